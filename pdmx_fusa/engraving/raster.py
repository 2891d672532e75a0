"""Verovio's SVG pages to greyscale pixels, drawn with Skia.

Skia's SVG renderer draws the graphics (paths, glyph ``<use>``s, polygons, ellipses) but reads
no stylesheet and has no fonts. So Verovio's own stylesheet is applied as attributes first, and
text is laid out here, with Verovio's fonts (Liberation Serif, Leipzig) loaded from files: no
system font can change a pixel.

Text layout follows SVG 1.1 for what Verovio writes: ``x``/``y`` start a chunk anchored by
``text-anchor``; ``font-size``, ``font-family``, ``font-style``, ``font-weight``,
``letter-spacing``, ``fill`` and ``visibility`` are inherited; whitespace is collapsed and
trimmed; glyphs are placed by their advances (no kerning). A character neither font has is
left out.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import skia
from lxml import etree
from PIL import ImageColor

from .fonts import font_dir

SVG_NS = "http://www.w3.org/2000/svg"
SVG = f"{{{SVG_NS}}}"

_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TRANSFORM = re.compile(r"(matrix|translate|scale|rotate)\s*\(([^)]*)\)")


@dataclass(frozen=True)
class _Style:
    """The inherited properties text needs, at one element."""

    size: float = 16.0
    family: str = ""
    bold: bool = False
    italic: bool = False
    spacing: float = 0.0
    fill: str = "black"
    color: str = "black"
    visible: bool = True
    anchor: str = "start"


def rasterise(root: etree._Element, width: int) -> np.ndarray:
    """A Verovio page (its parsed SVG) as greyscale pixels ``width`` wide, on white.

    ``root`` is restyled in place: the stylesheet becomes attributes and ``<text>`` is removed.
    """
    outer_w, outer_h = _length(root.get("width")), _length(root.get("height"))
    scale = width / outer_w
    height = round(outer_h * scale)
    rules = _stylesheet(root)
    _restyle(root, rules)
    texts = _take_texts(root)

    surface = skia.Surface.MakeRaster(skia.ImageInfo.Make(width, height, skia.ColorType.kGray_8_ColorType, skia.AlphaType.kOpaque_AlphaType))
    canvas = surface.getCanvas()
    canvas.clear(skia.ColorWHITE)
    dom = skia.SVGDOM.MakeFromStream(skia.MemoryStream(etree.tostring(root), True))
    dom.setContainerSize(skia.Size(outer_w, outer_h))
    canvas.save()
    canvas.scale(scale, scale)
    dom.render(canvas)
    canvas.restore()
    for ancestors, text in texts:
        matrix, style, viewport = skia.Matrix.Scale(scale, scale), _Style(), (outer_w, outer_h)
        for element in [*ancestors, text]:
            style = _inherit(style, element)
            if element.get("viewBox"):
                viewport = (_length(element.get("width"), viewport[0]), _length(element.get("height"), viewport[1]))
                matrix = skia.Matrix.Concat(matrix, _viewbox(element.get("viewBox"), *viewport))
            elif element.get("transform"):
                matrix = skia.Matrix.Concat(matrix, _transform(element.get("transform")))
        _draw_text(canvas, matrix, style, text)
    return surface.toarray().reshape(height, width)


def _stylesheet(root: etree._Element) -> dict[str, dict[str, list[tuple[frozenset[str], list[tuple[str, str]]]]]]:
    """Verovio's ``<style>`` rules as tag -> first class ("" for none) -> [(other classes, declarations)].

    Its selectors are ``#page-id tag.class...``; the page id always matches, so only the last
    compound selector is kept. Rules keep their document order, so later ones win.
    """
    rules: dict = {}
    for style in root.iter(f"{SVG}style"):
        for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", style.text or ""):
            declarations = [tuple(p.strip() for p in d.split(":", 1)) for d in body.split(";") if ":" in d]
            for selector in selectors.split(","):
                tag, *classes = selector.split()[-1].split(".")
                first = classes[0] if classes else ""
                rules.setdefault(tag, {}).setdefault(first, []).append((frozenset(classes[1:]), declarations))
    return rules


def _restyle(root: etree._Element, rules: dict) -> None:
    """Set each rule's declarations as attributes of the elements it selects (a stylesheet
    overrides presentation attributes, as here)."""
    for tag, by_class in rules.items():
        for element in root.iter(f"{SVG}{tag}"):
            have = element.get("class", "").split()
            for first in ("", *have):
                for others, declarations in by_class.get(first, ()):
                    if others.issubset(have):
                        for name, value in declarations:
                            element.set(name, value)


def _take_texts(root: etree._Element) -> list[tuple[list[etree._Element], etree._Element]]:
    """Remove every ``<text>`` (Skia's SVG renderer has no fonts), each with its ancestors."""
    texts = []
    for text in list(root.iter(f"{SVG}text")):
        texts.append((list(text.iterancestors())[::-1], text))
        text.getparent().remove(text)
    return texts


def _inherit(style: _Style, element: etree._Element) -> _Style:
    get = element.get
    changes = {}
    if (size := get("font-size")) is not None:
        changes["size"] = _length(size)
    if (family := get("font-family")) is not None:
        changes["family"] = family
    if (weight := get("font-weight")) is not None:
        changes["bold"] = weight == "bold" or (weight.isdigit() and int(weight) >= 600)
    if (slant := get("font-style")) is not None:
        changes["italic"] = slant in ("italic", "oblique")
    if (spacing := get("letter-spacing")) is not None:
        changes["spacing"] = 0.0 if spacing == "normal" else _length(spacing)
    if (fill := get("fill")) is not None:
        changes["fill"] = fill
    if (color := get("color")) is not None:
        changes["color"] = color
    if (visibility := get("visibility")) is not None:
        changes["visible"] = visibility == "visible"
    if (anchor := get("text-anchor")) is not None:
        changes["anchor"] = anchor
    return replace(style, **changes) if changes else style


def _draw_text(canvas: skia.Canvas, matrix: skia.Matrix, style: _Style, text: etree._Element) -> None:
    """Lay out one ``<text>``: its chunks, each a row of runs placed by glyph advances."""
    chunks: list[tuple[float, float, str, list[tuple[_Style, str]]]] = []
    position = [0.0, 0.0]

    def visit(element: etree._Element, style: _Style) -> None:
        if element.get("x") is not None or element.get("y") is not None or not chunks:
            position[0] = _first(element.get("x"), position[0])
            position[1] = _first(element.get("y"), position[1])
            chunks.append((position[0], position[1], style.anchor, []))
        if element.text:
            chunks[-1][3].append((style, element.text))
        for child in element:
            if child.tag == f"{SVG}tspan":
                visit(child, _inherit(style, child))
            if child.tail:
                chunks[-1][3].append((style, child.tail))

    visit(text, style)
    canvas.save()
    canvas.setMatrix(matrix)
    for x, y, anchor, runs in _collapse(chunks):
        placed, advance = [], 0.0
        for run_style, string in runs:
            font = _font(run_style)
            glyphs = font.textToGlyphs(string)
            fallback = _font(replace(run_style, family="" if "Leipzig" in run_style.family else "Leipzig"))
            kept, xs = [], []
            for char, glyph in zip(string, glyphs):
                use = font if glyph else fallback
                if not glyph and not fallback.unicharToGlyph(ord(char)):
                    continue
                kept.append((use, char))
                xs.append(advance)
                advance += use.measureText(char) + run_style.spacing
            placed.append((run_style, kept, xs))
        shift = {"middle": advance / 2, "end": advance}.get(anchor, 0.0)
        for run_style, kept, xs in placed:
            if not run_style.visible or run_style.fill == "none":
                continue
            paint = skia.Paint(AntiAlias=True, Color=_grey(run_style.color if run_style.fill == "currentColor" else run_style.fill))
            for (use, char), offset in zip(kept, xs):
                canvas.drawString(char, x + offset - shift, y, use, paint)
    canvas.restore()


def _collapse(chunks: list) -> list:
    """SVG's default ``xml:space``: newlines dropped, tabs as spaces, runs of spaces as one, the
    text trimmed; text in a zero font size (Verovio's indentation) takes no room and is dropped."""
    out, previous_space = [], True
    for x, y, anchor, runs in chunks:
        kept = []
        for style, string in runs:
            if style.size <= 0:
                continue
            string = string.replace("\n", "").replace("\r", "").replace("\t", " ")
            chars = []
            for char in string:
                if char == " " and previous_space:
                    continue
                chars.append(char)
                previous_space = char == " "
            if chars:
                kept.append((style, "".join(chars)))
        out.append((x, y, anchor, kept))
    for _, _, _, runs in reversed(out):  # trim the end of the whole text
        while runs and runs[-1][1].endswith(" "):
            style, string = runs.pop()
            if string.rstrip(" "):
                runs.append((style, string.rstrip(" ")))
                break
        if runs:
            break
    return [chunk for chunk in out if chunk[3]]


@functools.cache
def _typefaces() -> dict[tuple[str, bool, bool], skia.Typeface]:
    """Verovio's fonts by (family, bold, italic), loaded once per process by a font manager that
    knows no other (Skia's default one would start fontconfig and read the system's fonts)."""
    manager, faces = skia.FontMgr.New_Custom_Empty(), {}
    for path in sorted(Path(font_dir()).glob("*.otf")):
        face = manager.makeFromFile(str(path))
        style = face.fontStyle()
        faces[(face.getFamilyName(), style.weight() >= 600, style.slant() != skia.FontStyle.Slant.kUpright_Slant)] = face
    return faces


@functools.cache
def _font(style: _Style) -> skia.Font:
    faces = _typefaces()
    if "Leipzig" in style.family:
        face = faces[("Leipzig", False, False)]
    else:
        face = faces[("Liberation Serif", style.bold, style.italic)]
    font = skia.Font(face, style.size)
    font.setSubpixel(True)
    font.setLinearMetrics(True)
    font.setHinting(skia.FontHinting.kNone)
    font.setEdging(skia.Font.Edging.kAntiAlias)
    return font


@functools.cache
def _grey(color: str) -> int:
    try:
        r, g, b = ImageColor.getrgb(color)[:3]
    except ValueError:
        r = g = b = 0
    return skia.Color(r, g, b)


def _length(value: str | None, default: float = 0.0) -> float:
    match = _NUMBER.match(value.strip()) if value else None
    return float(match.group()) if match else default


def _first(value: str | None, default: float) -> float:
    return _length(value.replace(",", " ").split()[0], default) if value and value.strip() else default


def _viewbox(viewbox: str, width: float, height: float) -> skia.Matrix:
    """``preserveAspectRatio="xMidYMid meet"``, the default."""
    x, y, w, h = (float(v) for v in _NUMBER.findall(viewbox))
    scale = min(width / w, height / h)
    matrix = skia.Matrix.Translate((width - w * scale) / 2, (height - h * scale) / 2)
    return skia.Matrix.Concat(matrix, skia.Matrix.Concat(skia.Matrix.Scale(scale, scale), skia.Matrix.Translate(-x, -y)))


def _transform(transform: str) -> skia.Matrix:
    matrix = skia.Matrix()
    for kind, args in _TRANSFORM.findall(transform):
        v = [float(n) for n in _NUMBER.findall(args)]
        if kind == "translate":
            step = skia.Matrix.Translate(v[0], v[1] if len(v) > 1 else 0.0)
        elif kind == "scale":
            step = skia.Matrix.Scale(v[0], v[1] if len(v) > 1 else v[0])
        elif kind == "rotate":
            step = skia.Matrix.RotateDeg(v[0], skia.Point(v[1], v[2])) if len(v) == 3 else skia.Matrix.RotateDeg(v[0])
        else:
            step = skia.Matrix.MakeAll(v[0], v[2], v[4], v[1], v[3], v[5], 0, 0, 1)
        matrix = skia.Matrix.Concat(matrix, step)
    return matrix
