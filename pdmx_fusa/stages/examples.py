"""examples: one row per rendered page visit, in the dataset's schema."""

from __future__ import annotations

import re

from ..records import AlignedVisit, Engraving, Passage, Score, Visit
from .split import piece_id, piece_key


def examples(
    score: Score, engraving: Engraving, aligned: dict[Visit, AlignedVisit], passages: list[Passage], split: str
) -> list[dict]:
    """Rows pairing each passage's audio and MIDI with its page image and aligned measures and
    notes, timed as the passage's MIDI plays them (``Passage.played``). Metadata nobody states is None, never "".

    ``example_id`` is ``<score_id>#p<page>v<visit>:<soundfont>@<tempo ratio>`` (a visit's
    renditions are distinct); ``piece_id`` hashes the piece key the split was drawn from.
    """
    ref = score.ref
    piece = piece_id(piece_key(ref, score.title, score.composer))
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", ref.score_id).strip("_")
    rows = []
    for passage in passages:
        visit, rendition, played = passage.visit, passage.rendition, passage.played
        page = engraving.pages[visit.page]
        labels = score.labels[visit.page]
        measures = [
            {
                "number": m.number,
                "engraved_id": m.engraved_id,
                "system": m.boxes.system,
                "staff_boxes": [list(b) for b in m.boxes.staves],
                "box": list(m.boxes.box),
                "onset": onset,
                "offset": offset,
                "tempo": tempo,
            }
            for m, (onset, offset), tempo in zip(aligned[visit].measures, played.measures, played.tempo)
        ]
        notes = [
            {
                "pitch": n.key,
                "onset": onset,
                "offset": offset,
                "velocity": velocity,
                "measure": n.measure,
                "box": list(n.box) if n.box is not None else None,
                "engraved_id": n.engraved_id,
                "grace": n.grace,
            }
            for n, (onset, offset, velocity) in sorted(zip(aligned[visit].notes, played.notes), key=lambda pair: pair[1][0])
        ]
        kind = ":expressive" if rendition.expressive else ""
        name = f"{stem}-p{visit.page + 1}-v{visit.index}-{rendition.soundfont}-t{rendition.tempo_ratio:g}{kind.replace(':', '-')}"
        example_id = f"{ref.score_id}#p{visit.page + 1}v{visit.index}:{rendition.soundfont}@{rendition.tempo_ratio:g}{kind}"
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
                "pdmx_id": ref.pdmx_id or None,
                "piece_id": piece,
                "example_id": example_id,
                "title": score.title or None,
                "composer": score.composer or None,
                "license": ref.license or None,
                "rating": ref.rating,
                "page": visit.page + 1,
                "n_pages": len(engraving.pages),
                "visit": visit.index,
                "soundfont": rendition.soundfont,
                "tempo_ratio": rendition.tempo_ratio,
                "expressive": rendition.expressive,
                "split": split,
                "duration": passage.duration,
            }
        )
    return rows
