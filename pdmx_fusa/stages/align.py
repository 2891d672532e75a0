"""align: the pixel-to-second join, every performed measure and note of a visit with its boxes and its times."""

from __future__ import annotations

import bisect

from ..records import AlignedMeasure, AlignedNote, AlignedVisit, Engraving, PerformedNote, Score, Visit

EPSILON = 1e-6  # seconds: the passage cut's rule (audio.midi.cut_passage): a note belongs to [start, end) within this


def align(score: Score, engraving: Engraving, visits: tuple[Visit, ...]) -> dict[Visit, AlignedVisit]:
    """For each visit, its performed measures in playing order with their boxes on the visit's page,
    and the notes its passage plays with their noteheads there, all timed in seconds from the
    visit's start at tempo ratio 1.0."""
    numbers = {m.id: m.number for m in score.measures}
    note_onsets = [n.onset for n in score.notes]
    aligned = {}
    for visit in visits:
        page = engraving.pages[visit.page]
        performed = [score.performance[i] for i in visit.measures]
        measures = tuple(
            AlignedMeasure(
                number=numbers[p.engraved_id],
                engraved_id=p.engraved_id,
                boxes=page.measures[p.engraved_id],
                onset=p.onset - visit.start,
                offset=p.offset - visit.start,
            )
            for p in performed
        )
        starts = [p.onset - EPSILON for p in performed]
        notes = tuple(
            AlignedNote(
                engraved_id=n.engraved_id,
                measure=max(0, bisect.bisect_right(starts, n.onset) - 1),
                key=n.key,
                velocity=n.velocity,
                box=page.noteheads.get(n.engraved_id),
                onset=n.onset - visit.start,
                offset=min(n.offset, visit.end) - visit.start,
                grace=n.grace,
            )
            for n in visit_notes(score, visit, note_onsets)
        )
        aligned[visit] = AlignedVisit(measures, notes)
    return aligned


def visit_notes(score: Score, visit: Visit, note_onsets: list[float] | None = None) -> tuple[PerformedNote, ...]:
    """The notes a visit's passage plays, in the score's order: exactly those ``cut_passage`` plays,
    onset in ``[start, end)``, each within ``EPSILON``. ``note_onsets``: the notes' onsets, if at hand."""
    onsets = note_onsets if note_onsets is not None else [n.onset for n in score.notes]
    return score.notes[bisect.bisect_left(onsets, visit.start - EPSILON) : bisect.bisect_left(onsets, visit.end - EPSILON)]
