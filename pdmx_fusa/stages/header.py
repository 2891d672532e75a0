"""header: a score's title and composer as the score itself states them, for sources that state none.

MusicXML is read directly (Verovio's MEI keeps neither every credit nor, for some files, any):
``work-title`` and ``movement-title``, ``creator type="composer"``, else the first page's credits
(``credit-type`` title, subtitle and composer, else the centred lines of the page's upper
half, top first, and the top right-aligned one, where engravers put title and composer). Other formats (MEI, Humdrum) keep
what Verovio's MEI header says (``parse`` reads it). Only the header is read: parsing stops at the
first ``<part>``. The file has passed the container check (:mod:`.container`) before this runs.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

from ..records import ScoreRef
from ..timing.musicxml import score_bytes
from .composers import clean


def title_and_composer(ref: ScoreRef, mei_head: dict[str, str]) -> tuple[str, str]:
    """The source's title and composer, else the MusicXML header's, else ``mei_head``'s; the
    composer cleaned (:func:`.composers.clean`), both "" when nobody states them."""
    own = musicxml_header(Path(ref.path))
    title = ref.title or own.get("title") or mei_head.get("title", "")
    composer = ref.composer or own.get("composer") or mei_head.get("composer", "")
    return " ".join(title.split()), clean(composer)


def musicxml_header(path: Path) -> dict[str, str]:
    """``{"title": ..., "composer": ...}`` (each only where stated) of a MusicXML file or .mxl;
    ``{}`` for any other file, or one whose header cannot be read."""
    try:
        data = score_bytes(path)
        return _read_header(data) if data else {}
    except (ET.ParseError, OSError, UnicodeError):  # score_bytes itself answers None for a broken archive
        return {}


def _read_header(data: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    credits: list[tuple[list[str], dict[str, str], str]] = []  # (credit types, first words' attributes, text)
    for event, element in ET.iterparse(io.BytesIO(data), events=("start", "end")):
        tag = element.tag.rpartition("}")[2]
        if event == "start":
            if tag == "part":  # the header is over
                break
            continue
        if tag in ("work-title", "movement-title"):
            fields.setdefault(tag, _text(element))
        elif tag == "page-height":
            fields.setdefault(tag, _text(element))
        elif tag == "creator" and element.get("type") == "composer":
            fields.setdefault("composer", _text(element))
        elif tag == "credit" and element.get("page", "1") == "1":
            words = [w for w in element if w.tag.rpartition("}")[2] == "credit-words"]
            types = [_text(t) for t in element if t.tag.rpartition("}")[2] == "credit-type"]
            if words:
                credits.append((types, dict(words[0].attrib), " ".join(_text(w) for w in words)))
    work, movement = fields.get("work-title", ""), fields.get("movement-title", "")
    title = f"{work}: {movement}" if work and movement and movement not in work and work not in movement else work or movement
    top = _number(fields.get("page-height", "")) / 2  # credits above it; 0: unknown, the top one only
    title = title or _credited(credits, ("title", "subtitle"), "center", top)
    composer = fields.get("composer") or _credited(credits, ("composer",), "right", 0.0)
    return {key: value for key, value in (("title", title), ("composer", composer)) if value}


def _credited(credits: list[tuple[list[str], dict[str, str], str]], types: tuple[str, ...], justify: str, above: float) -> str:
    """The credits typed as one of ``types``, else the untyped ones justified ``justify``, top
    first (MusicXML's y grows upwards): those above ``above`` tenths, at least the top one,
    joined with ", "."""
    typed = [(attributes, text) for kinds, attributes, text in credits if set(kinds) & set(types)]
    placed = typed or [
        (attributes, text)
        for kinds, attributes, text in credits
        if not kinds and (attributes.get("justify") or attributes.get("halign")) == justify
    ]
    placed.sort(key=lambda item: -_number(item[0].get("default-y", "")))
    kept = [text for n, (attributes, text) in enumerate(placed) if text and (n == 0 or typed or 0 < above < _number(attributes.get("default-y", "")))]
    return ", ".join(kept)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _text(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())
