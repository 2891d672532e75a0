"""The Skia rasteriser on pages built like Verovio's: its stylesheet applied, its text laid out."""

from __future__ import annotations

import numpy as np
import pytest

from pdmx_fusa.config import load_config
from pdmx_fusa.engraving.raster import rasterise
from pdmx_fusa.stages.engrave import parse_svg
from pdmx_fusa.stages.parse import new_toolkit

STYLE = (
    "#p g.tempo {font-weight:bold;}#p g.dynam {font-style:italic;}"
    "#p ellipse, #p path, #p polygon {stroke:currentColor}#p g.placeholder {visibility:hidden}"
)


def page(body: str) -> np.ndarray:
    """``body`` drawn on a 400 x 200 px page whose user units are tenths of a pixel, as Verovio's."""
    svg = (
        '<svg width="400px" height="200px" xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" id="p">'
        f'<style type="text/css">{STYLE}</style>'
        '<svg class="definition-scale" color="black" font-family="Times, serif" viewBox="0 0 4000 2000">'
        f'<g class="page-margin" transform="translate(100, 0)">{body}</g></svg></svg>'
    )
    return rasterise(parse_svg(svg), 800)  # twice the page's size: 0.2 user units per pixel


def ink_columns(pixels: np.ndarray) -> np.ndarray:
    return np.nonzero((pixels < 128).any(axis=0))[0]


def text(x: int, anchor: str, words: str, size: int = 400, **attrs: str) -> str:
    extra = " ".join(f'{k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    # Verovio's layout: a zero-size <text> whose inner <tspan> carries the size, indented with whitespace
    return (f'<text x="{x}" y="1000" text-anchor="{anchor}" font-size="0px">\n   <tspan class="text">\n      '
            f'<tspan font-size="{size}px" {extra}>{words}</tspan>\n   </tspan>\n</text>')


@pytest.mark.parametrize("anchor", ["start", "middle", "end"])
def test_text_is_anchored_at_x_whatever_the_indentation(anchor):
    columns = ink_columns(page(text(1900, anchor, "Allegro")))
    x = (100 + 1900) / 5  # margin + x, in pixels
    edge = {"start": columns.min(), "middle": (columns.min() + columns.max()) / 2, "end": columns.max()}[anchor]
    assert abs(edge - x) <= 4, (anchor, edge, x)
    assert 150 < columns.max() - columns.min() < 350  # "Allegro" at 40 px, not a dot and not the page


def test_stylesheet_classes_and_fill_shape_the_text():
    regular = page(text(200, "start", "Allegro"))
    bold = page(f'<g class="tempo">{text(200, "start", "Allegro")}</g>')
    italic = page(f'<g class="dynam">{text(200, "start", "Allegro")}</g>')
    red = page(f'<g fill="red" color="red">{text(200, "start", "Allegro")}</g>')
    ink = {name: (255 - p.astype(int)).sum() for name, p in [("regular", regular), ("bold", bold), ("italic", italic)]}
    assert ink["bold"] > 1.2 * ink["regular"]
    assert not np.array_equal(italic, regular) and abs(ink["italic"] - ink["regular"]) < 0.2 * ink["regular"]
    assert red.min() > 40 and red.min() < 120  # red's luminance, not black


def test_stylesheet_strokes_lines_and_hides_placeholders():
    line = page('<path d="M0 1000 L3000 1000" stroke-width="20" />')
    assert (line[200] < 64).sum() > 500  # a staff line exists only through "path {stroke:currentColor}"
    hidden = page('<g class="placeholder"><ellipse cx="1000" cy="1000" rx="90" ry="90" /></g>')
    shown = page('<g class="note"><ellipse cx="1000" cy="1000" rx="90" ry="90" /></g>')
    assert hidden.min() == 255 and shown.min() < 64


def test_music_font_text_and_characters_no_font_has():
    tempo = page(text(200, "start", "\ue1d5", font_family="Leipzig"))  # SMuFL quarter note
    assert tempo.min() < 64
    missing = page(text(200, "start", "A\u4e2d\u6587B"))  # CJK: neither Leipzig nor Liberation has it
    both = page(text(200, "start", "AB"))
    assert np.array_equal(missing, both)  # left out, no box drawn, no room taken


def test_a_verovio_page_has_its_title_and_staff_lines(tmp_path):
    score = tmp_path / "t.musicxml"
    score.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><score-partwise version="3.1"><work><work-title>Sonatina</work-title></work>'
        '<part-list><score-part id="P1"><part-name>Piano</part-name></score-part></part-list><part id="P1">'
        '<measure number="1"><attributes><divisions>1</divisions><clef><sign>G</sign><line>2</line></clef></attributes>'
        '<note><pitch><step>C</step><octave>5</octave></pitch><duration>4</duration><type>whole</type></note></measure></part>'
        "</score-partwise>"
    )
    toolkit = new_toolkit(load_config(None).parse)
    assert toolkit.loadFile(str(score))
    pixels = rasterise(parse_svg(toolkit.renderToSVG(1)), 1240)
    assert pixels.shape == (1754, 1240)
    rows = np.nonzero((pixels < 128).any(axis=1))[0]
    end = rows[np.nonzero(np.diff(rows) > 5)[0][0]]  # the first band of ink, down to the first gap
    title = pixels[: end + 1]
    assert (title < 128).sum() > 500  # "Sonatina", centred at the top
    columns = ink_columns(title)
    assert abs((columns.min() + columns.max()) / 2 - 620) < 40
    assert ((pixels < 200).sum(axis=1) > 100).sum() >= 5  # five staff lines across the one measure
