"""examples: one row per rendered page visit, in the dataset's schema."""

from __future__ import annotations

import re

from ..records import Engraving, Passage, Score


def examples(score: Score, engraving: Engraving, passages: list[Passage], split: str) -> list[dict]:
    """Rows pairing each passage's audio and MIDI with its page image and measure boxes."""
    ref = score.ref
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", ref.score_id).strip("_")
    numbers = {m.id: m.number for m in score.measures}
    rows = []
    for passage in passages:
        visit, rendition = passage.visit, passage.rendition
        page = engraving.pages[visit.page]
        labels = score.labels[visit.page]
        measures = []
        for i in visit.measures:
            performed = score.performance[i]
            boxes = page.measures[performed.engraved_id]
            measures.append(
                {
                    "number": numbers[performed.engraved_id],
                    "engraved_id": performed.engraved_id,
                    "system": boxes.system,
                    "staff_boxes": [list(b) for b in boxes.staves],
                    "box": list(boxes.box),
                    "onset": (performed.onset - visit.start) / rendition.tempo_ratio,
                    "offset": (performed.offset - visit.start) / rendition.tempo_ratio,
                }
            )
        name = f"{stem}-p{visit.page + 1}-v{visit.index}-{rendition.soundfont}-t{rendition.tempo_ratio:g}"
        rows.append(
            {
                "image": {"bytes": page.png, "path": f"{stem}-p{visit.page + 1}.png"},
                "audio": {"bytes": passage.flac, "path": f"{name}.flac"},
                "midi": passage.midi,
                "measures": measures,
                "systems": [list(b) for b in page.systems],
                "key_fifths": labels.key_fifths,
                "meter": labels.meter,
                "polyphony": labels.polyphony,
                "source": ref.source,
                "score_id": ref.score_id,
                "pdmx_id": ref.pdmx_id,
                "title": score.title,
                "composer": score.composer,
                "license": ref.license,
                "rating": ref.rating,
                "page": visit.page + 1,
                "n_pages": len(engraving.pages),
                "visit": visit.index,
                "soundfont": rendition.soundfont,
                "tempo_ratio": rendition.tempo_ratio,
                "split": split,
                "duration": passage.duration,
            }
        )
    return rows
