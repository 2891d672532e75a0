"""align: the pixel-to-second join, every performed measure of a visit with its boxes and its times."""

from __future__ import annotations

from ..records import AlignedMeasure, Engraving, Score, Visit


def align(score: Score, engraving: Engraving, visits: tuple[Visit, ...]) -> dict[Visit, tuple[AlignedMeasure, ...]]:
    """For each visit, its performed measures in playing order with their boxes on the visit's page
    and their onset and offset in seconds from the visit's start, at tempo ratio 1.0."""
    numbers = {m.id: m.number for m in score.measures}
    aligned = {}
    for visit in visits:
        page = engraving.pages[visit.page]
        aligned[visit] = tuple(
            AlignedMeasure(
                number=numbers[performed.engraved_id],
                engraved_id=performed.engraved_id,
                boxes=page.measures[performed.engraved_id],
                onset=performed.onset - visit.start,
                offset=performed.offset - visit.start,
            )
            for performed in (score.performance[i] for i in visit.measures)
        )
    return aligned
