"""engrave: every page to a greyscale PNG, and where each system, staff, measure and notehead lies on it.

Boxes are the extent of staff lines: a staff box spans its five lines (top line to bottom line,
first to last x of the measure), a measure box spans its staves, a system box its measures.
A notehead box is the extent of its glyph: the ``<use>`` of a SMuFL glyph inside the note's
``<g class="notehead">``, placed by the use's translate and scale, with the glyph's bounding box
from Verovio's Leipzig font data (``data/Leipzig.xml``, font units, y up).
"""

from __future__ import annotations

import functools
import io
import re
from pathlib import Path

import numpy as np
import verovio
from lxml import etree
from PIL import Image

from ..config import EngraveConfig
from ..engraving.raster import SVG, rasterise
from ..records import Box, Engraving, MeasureBoxes, Page, Score
from . import Rejected

_LINE = re.compile(r"M\s*(-?[\d.]+)[ ,](-?[\d.]+)\s*L\s*(-?[\d.]+)[ ,](-?[\d.]+)")
_TRANSLATE = re.compile(r"translate\(\s*(-?[\d.]+)[ ,]\s*(-?[\d.]+)\s*\)")
_SCALE = re.compile(r"scale\(\s*(-?[\d.]+)(?:[ ,]\s*(-?[\d.]+))?\s*\)")
_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_NOTES = etree.XPath(".//svg:g[@class='note' or starts-with(@class, 'note ')]", namespaces={"svg": SVG[1:-1]})
_MEASURES = etree.XPath(".//svg:g[@class='measure' or starts-with(@class, 'measure ')]", namespaces={"svg": SVG[1:-1]})
GLYPHS = Path(verovio.__file__).parent / "data" / "Leipzig.xml"  # Verovio's default music font


def engrave(score: Score, cfg: EngraveConfig) -> Engraving:
    """Rasterise each page of ``score`` at ``cfg.width_px`` wide and measure its boxes."""
    return Engraving(tuple(_page(svg, cfg.width_px) for svg in score.svgs))


def page_png(pixels: np.ndarray) -> bytes:
    """A page's greyscale pixels as PNG."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def parse_svg(svg: str) -> etree._Element:
    """A page's SVG as a tree (Verovio's own output: no entities, nothing fetched)."""
    return etree.fromstring(svg.encode(), etree.XMLParser(resolve_entities=False, no_network=True))


def _page(svg: str, width: int) -> Page:
    root = parse_svg(svg)
    scale = width / _inner_width(svg)
    systems, measures = _boxes(root, scale)
    noteheads = _noteheads(root, scale)
    pixels = rasterise(root, width)  # restyles ``root`` in place: boxes are read first
    return Page(page_png(pixels), pixels.shape[1], pixels.shape[0], systems, measures, noteheads)


def _inner_width(svg: str) -> float:
    match = re.search(r'class="definition-scale"[^>]*viewBox="0 0 ([\d.]+) ', svg)
    if not match:
        raise Rejected("engrave: Verovio's SVG has no definition-scale viewBox")
    return float(match.group(1))


def _boxes(root: etree._Element, scale: float) -> tuple[tuple[Box, ...], dict[str, MeasureBoxes]]:
    """System boxes and measure boxes in pixels; ``scale`` is pixels per SVG inner unit."""
    margin = root.find(f".//{SVG}g[@class='page-margin']")
    offset = _margin_offset(margin)
    systems, measures = [], {}
    for system in margin.iter(f"{SVG}g"):
        if system.get("class") != "system":
            continue
        ids, staves = [], []
        for measure in _MEASURES(system):
            boxes = [b for b in (_staff_box(g) for g in measure if g.get("class") == "staff") if b is not None]
            if boxes:
                ids.append(measure.get("id"))
                staves.append(boxes)
        if not ids:
            continue
        unions = [_union(boxes) for boxes in staves]
        for measure_id, boxes, union in zip(ids, staves, unions):
            measures[measure_id] = MeasureBoxes(len(systems), _pixels(boxes, offset, scale), _pixels([union], offset, scale)[0])
        systems.append(_pixels([_union(unions)], offset, scale)[0])
    return tuple(systems), measures


def _margin_offset(margin: etree._Element) -> tuple[float, float, float, float]:
    """The page margin's translate, as an offset of a box ``(x0, y0, x1, y1)``."""
    dx, dy = map(float, _TRANSLATE.search(margin.get("transform", "translate(0,0)")).groups())
    return dx, dy, dx, dy


def _union(boxes: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    if len(boxes) == 1:
        return boxes[0]
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def _pixels(boxes: list[tuple[float, float, float, float]], offset: tuple[float, ...], scale: float) -> tuple[Box, ...]:
    """SVG inner boxes (inside the page margin) in pixels, to 0.01 px."""
    return tuple(map(tuple, np.round((np.array(boxes, dtype=float).reshape(-1, 4) + offset) * scale, 2).tolist()))


def _staff_box(staff: etree._Element) -> tuple[float, float, float, float] | None:
    """The extent of a staff's own horizontal lines (its direct ``path`` children)."""
    lines = []
    for path in staff.findall(f"{SVG}path"):
        match = _LINE.match(path.get("d", ""))
        if match:
            x1, y1, x2, y2 = map(float, match.groups())
            if y1 == y2:
                lines.append((min(x1, x2), y1, max(x1, x2), y2))
    return _union(lines) if lines else None


def _noteheads(root: etree._Element, scale: float) -> dict[str, Box]:
    """The box of every drawn notehead by its note's id, in pixels like the measure boxes: the
    union of the glyph boxes of the ``<use>`` elements in the note's ``<g class="notehead">``.
    A note Verovio hides (``visibility="hidden"``, from MEI ``visible="false"``) has no box."""
    margin = root.find(f".//{SVG}g[@class='page-margin']")
    glyphs = glyph_boxes()
    hidden: dict[etree._Element, bool] = {}
    ids, extents = [], []
    for note in _NOTES(margin):
        if _hidden(note, hidden):
            continue
        glyph_extents = []
        for head in note:
            if head.get("class") != "notehead":
                continue
            for use in head.iter(f"{SVG}use"):
                glyph = glyphs.get(use.get(_XLINK_HREF, "").lstrip("#").split("-")[0])
                transform = use.get("transform", "")
                at = _TRANSLATE.search(transform)
                if glyph is None or at is None:
                    continue
                tx, ty = map(float, at.groups())
                sized = _SCALE.search(transform)
                sx = float(sized.group(1)) if sized else 1.0
                sy = float(sized.group(2) or sized.group(1)) if sized else 1.0
                x, y, w, h = glyph  # font units, y up: the path is drawn through scale(1, -1)
                glyph_extents.append((tx + sx * x, ty - sy * (y + h), tx + sx * (x + w), ty - sy * y))
        if glyph_extents:
            ids.append(note.get("id"))
            extents.append(_union(glyph_extents))
    return dict(zip(ids, _pixels(extents, _margin_offset(margin), scale)))


def _hidden(element: etree._Element, memo: dict[etree._Element, bool]) -> bool:
    """Whether SVG's inherited ``visibility`` hides ``element``: Verovio marks notes that are not
    to be seen (e.g. MuseScore's hidden playback notes) ``visibility="hidden"``, and its
    stylesheet hides ``g.placeholder``. ``memo`` keeps the answer for ancestors already asked."""
    if "placeholder" in element.get("class", "").split():
        return True
    visibility = element.get("visibility")
    if visibility:
        return visibility in ("hidden", "collapse")
    parent = element.getparent()
    if parent is None:
        return False
    if parent not in memo:
        memo[parent] = _hidden(parent, memo)
    return memo[parent]


@functools.cache
def glyph_boxes() -> dict[str, tuple[float, float, float, float]]:
    """SMuFL codepoint (``E0A4``) -> the glyph's bounding box ``(x, y, width, height)`` in font
    units (1000 per em, y up), from Verovio's Leipzig font data."""
    root = etree.parse(str(GLYPHS), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    return {g.get("c"): tuple(float(g.get(k)) for k in ("x", "y", "w", "h")) for g in root.iter("g") if g.get("c")}
