"""examples: one row per rendered page visit, in the dataset's schema."""

from __future__ import annotations

import re

from ..records import AlignedVisit, Engraving, Passage, Score, Visit


def examples(
    score: Score, engraving: Engraving, aligned: dict[Visit, AlignedVisit], passages: list[Passage], split: str
) -> list[dict]:
    """Rows pairing each passage's audio and MIDI with its page image and aligned measures and
    notes, whose times are scaled to the passage's tempo."""
    ref = score.ref
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", ref.score_id).strip("_")
    rows = []
    for passage in passages:
        visit, rendition = passage.visit, passage.rendition
        page = engraving.pages[visit.page]
        labels = score.labels[visit.page]
        measures = [
            {
                "number": m.number,
                "engraved_id": m.engraved_id,
                "system": m.boxes.system,
                "staff_boxes": [list(b) for b in m.boxes.staves],
                "box": list(m.boxes.box),
                "onset": m.onset / rendition.tempo_ratio,
                "offset": m.offset / rendition.tempo_ratio,
            }
            for m in aligned[visit].measures
        ]
        notes = [
            {
                "pitch": n.key,
                "onset": n.onset / rendition.tempo_ratio,
                "offset": n.offset / rendition.tempo_ratio,
                "velocity": n.velocity,
                "measure": n.measure,
                "box": list(n.box) if n.box is not None else None,
                "engraved_id": n.engraved_id,
                "grace": n.grace,
            }
            for n in aligned[visit].notes
        ]
        name = f"{stem}-p{visit.page + 1}-v{visit.index}-{rendition.soundfont}-t{rendition.tempo_ratio:g}"
        rows.append(
            {
                "image": {"bytes": page.png, "path": f"{stem}-p{visit.page + 1}.png"},
                "audio": {"bytes": passage.flac, "path": f"{name}.flac"},
                "midi": passage.midi,
                "measures": measures,
                "notes": notes,
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
