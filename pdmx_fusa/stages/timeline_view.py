"""The performed sequence of one score as a build renders it (``pdmx-fusa timeline``): every
performed measure and note in playing order, at tempo ratio 1.0, from the same stages the build
runs, so it is what the rows carry (their times are these, less their visit's start, divided by
the rendition's tempo ratio)."""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigError, ParseConfig
from ..files import printable
from ..records import Score, ScoreRef
from .parse import parse
from .timeline import timeline


def performed_score(ref: ScoreRef, cfg: ParseConfig) -> Score:
    """``ref`` through every stage that decides what is played when (parse, then the retiming of
    :mod:`.timeline`): the Score whose measures and MIDI the build's rows and audio come from."""
    return timeline(parse(ref, cfg), cfg)


def score_file(path: str, extensions: tuple[str, ...]) -> ScoreRef:
    """The ScoreRef of one score file, as the folder source would list it; :class:`ConfigError`
    (one line) for a path that is not there, a folder, or not named like a score."""
    file = Path(path).expanduser()
    known = {"." + e.lower().lstrip(".") for e in extensions}
    if file.suffix.lower() not in known:
        raise ConfigError(f"{printable(path)}: not named like a score (expected {', '.join(sorted(known))})")
    if not file.exists() and not file.is_symlink():
        raise ConfigError(f"{printable(path)}: no such file")
    if file.is_dir():
        raise ConfigError(f"{printable(path)}: a folder, not a score file")
    return ScoreRef(score_id=file.name, path=str(file.absolute()), source="folder", group="")


def timeline_document(score: Score) -> dict:
    """``{score, measures, notes}``: the score's identity, each performed measure (its engraved
    id, printed number, 1-based page, onset and offset in seconds) and each note (pitch, onset,
    offset, velocity, the index of its measure in ``measures``, its engraved id, grace)."""
    page = {m.id: m.page for m in score.measures}
    number = {m.id: m.number for m in score.measures}
    return {
        "score": {
            "score_id": score.ref.score_id,
            "path": printable(score.ref.path),
            "title": score.title,
            "composer": score.composer,
            "pages": len(score.svgs),
            "duration": score.duration,
        },
        "measures": [
            {
                "index": i,
                "number": number.get(p.engraved_id, ""),
                "engraved_id": p.engraved_id,
                "page": page[p.engraved_id] + 1 if page.get(p.engraved_id, -1) >= 0 else None,
                "onset": p.onset,
                "offset": p.offset,
            }
            for i, p in enumerate(score.performance)
        ],
        "notes": [
            {
                "pitch": n.key,
                "onset": n.onset,
                "offset": n.offset,
                "velocity": n.velocity,
                "measure": n.measure,
                "engraved_id": n.engraved_id,
                "grace": n.grace,
            }
            for n in score.notes
        ],
    }


def timeline_table(document: dict, notes: bool = False) -> str:
    """``document`` as aligned text: a line for the score, a table of measures, and with ``notes``
    a table of notes."""
    info = document["score"]
    lines = [
        f"{info['score_id']}: {info['title'] or '(untitled)'}{' - ' + info['composer'] if info['composer'] else ''}, "
        f"{info['pages']} pages, {len(document['measures'])} performed measures, {info['duration']:.3f} s",
        "",
    ]
    lines += _table(
        ("#", "number", "engraved id", "page", "onset", "offset"),
        [(m["index"], m["number"], m["engraved_id"], "-" if m["page"] is None else m["page"], f"{m['onset']:.3f}", f"{m['offset']:.3f}")
         for m in document["measures"]],
    )
    if notes:
        lines.append("")
        lines += _table(
            ("pitch", "onset", "offset", "velocity", "measure", "engraved id", "grace"),
            [(n["pitch"], f"{n['onset']:.3f}", f"{n['offset']:.3f}", n["velocity"], n["measure"], n["engraved_id"], "grace" if n["grace"] else "")
             for n in document["notes"]],
        )
    return "\n".join(lines)


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    cells = [tuple(map(str, header))] + [tuple(map(str, row)) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [all(_is_number(row[i]) for row in cells[1:]) and bool(rows) for i in range(len(header))]
    return ["  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric)).rstrip() for row in cells]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == "-"
    return True
