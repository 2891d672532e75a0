"""engrave: every page to a greyscale PNG, and where each system, staff and measure lies on it.

Boxes are the extent of staff lines: a staff box spans its five lines (top line to bottom line,
first to last x of the measure), a measure box spans its staves, a system box its measures.
"""

from __future__ import annotations

import io
import re

import numpy as np
from lxml import etree
from PIL import Image

from ..config import EngraveConfig
from ..engraving.raster import SVG, rasterise
from ..records import Box, Engraving, MeasureBoxes, Page, Score
from . import Rejected

_LINE = re.compile(r"M\s*(-?[\d.]+)[ ,](-?[\d.]+)\s*L\s*(-?[\d.]+)[ ,](-?[\d.]+)")
_TRANSLATE = re.compile(r"translate\(\s*(-?[\d.]+)[ ,]\s*(-?[\d.]+)\s*\)")


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
    systems, measures = _boxes(root, width / _inner_width(svg))
    pixels = rasterise(root, width)
    return Page(page_png(pixels), pixels.shape[1], pixels.shape[0], systems, measures)


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
