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
    dx, dy = map(float, _TRANSLATE.search(margin.get("transform", "translate(0,0)")).groups())

    def px(box: np.ndarray) -> Box:
        return tuple(float(round(v, 2)) for v in ((box + (dx, dy, dx, dy)) * scale))

    systems, measures = [], {}
    for system in margin.iter(f"{SVG}g"):
        if system.get("class") != "system":
            continue
        system_boxes = []
        for measure in system.iter(f"{SVG}g"):
            if measure.get("class", "").split()[:1] != ["measure"]:
                continue
            staves = [b for b in (_staff_box(g) for g in measure if g.get("class") == "staff") if b is not None]
            if not staves:
                continue
            union = np.array([min(b[0] for b in staves), min(b[1] for b in staves), max(b[2] for b in staves), max(b[3] for b in staves)])
            measures[measure.get("id")] = MeasureBoxes(len(systems), tuple(px(b) for b in staves), px(union))
            system_boxes.append(union)
        if system_boxes:
            stack = np.array(system_boxes)
            systems.append(px(np.concatenate([stack[:, :2].min(axis=0), stack[:, 2:].max(axis=0)])))
    return tuple(systems), measures


def _staff_box(staff: etree._Element) -> np.ndarray | None:
    """The extent of a staff's own horizontal lines (its direct ``path`` children)."""
    lines = []
    for path in staff.findall(f"{SVG}path"):
        match = _LINE.match(path.get("d", ""))
        if match:
            x1, y1, x2, y2 = map(float, match.groups())
            if y1 == y2:
                lines.append((min(x1, x2), y1, max(x1, x2), y2))
    if not lines:
        return None
    a = np.array(lines)
    return np.array([a[:, 0].min(), a[:, 1].min(), a[:, 2].max(), a[:, 3].max()])


def _noteheads(root: etree._Element, scale: float) -> dict[str, Box]:
    """The box of every drawn notehead by its note's id, in pixels like the measure boxes: the
    union of the glyph boxes of the ``<use>`` elements in the note's ``<g class="notehead">``.
    A note Verovio hides (``visibility="hidden"``, from MEI ``visible="false"``) has no box."""
    margin = root.find(f".//{SVG}g[@class='page-margin']")
    dx, dy = map(float, _TRANSLATE.search(margin.get("transform", "translate(0,0)")).groups())
    glyphs = glyph_boxes()
    boxes = {}
    for note in margin.iter(f"{SVG}g"):
        if note.get("class", "").split()[:1] != ["note"] or _hidden(note):
            continue
        extents = []
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
                extents.append((tx + sx * x, ty - sy * (y + h), tx + sx * (x + w), ty - sy * y))
        if extents:
            a = np.array(extents)
            box = np.array([a[:, 0].min(), a[:, 1].min(), a[:, 2].max(), a[:, 3].max()])
            boxes[note.get("id")] = tuple(float(round(v, 2)) for v in ((box + (dx, dy, dx, dy)) * scale))
    return boxes


def _hidden(element: etree._Element) -> bool:
    """Whether SVG's inherited ``visibility`` hides ``element``: Verovio marks notes that are not
    to be seen (e.g. MuseScore's hidden playback notes) ``visibility="hidden"``, and its
    stylesheet hides ``g.placeholder``."""
    for node in (element, *element.iterancestors()):
        if "placeholder" in node.get("class", "").split():
            return True
        visibility = node.get("visibility")
        if visibility:
            return visibility in ("hidden", "collapse")
    return False


@functools.cache
def glyph_boxes() -> dict[str, tuple[float, float, float, float]]:
    """SMuFL codepoint (``E0A4``) -> the glyph's bounding box ``(x, y, width, height)`` in font
    units (1000 per em, y up), from Verovio's Leipzig font data."""
    root = etree.parse(str(GLYPHS), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    return {g.get("c"): tuple(float(g.get(k)) for k in ("x", "y", "w", "h")) for g in root.iter("g") if g.get("c")}
