"""The fonts Verovio's SVG asks for, taken from Verovio's own data folder.

Verovio embeds its text font (Liberation Serif) and its music font (Leipzig) in CSS as woff2.
Rasterisers do not read those, so they are converted once to OpenType files in a cache folder
(:func:`~pdmx_fusa.files.machine_cache`, a temporary one where the machine's cannot be written),
and pages are rasterised with these fonts alone: no system font can change a pixel.
"""

from __future__ import annotations

import base64
import functools
import io
import re
from pathlib import Path

import verovio
from fontTools.ttLib import TTFont

from ..files import machine_cache, temporary, temporary_cache

_CSS = ("Liberation.css", "Leipzig.css")


@functools.cache
def font_dir() -> str:
    """A folder of OpenType fonts for the rasteriser, made on first use (per Verovio version) in the
    machine cache, or where a folder there cannot be written, in the temporary fall-back."""
    name = f"fonts-verovio-{verovio.toolkit(False).getVersion()}"
    folder = machine_cache() / name
    try:
        _convert(folder)
    except OSError as err:
        folder = temporary_cache(folder, err.strerror or str(err)) / name
        _convert(folder)
    return str(folder)


def _convert(folder: Path) -> None:
    """Write Verovio's fonts into ``folder`` as OpenType files, unless a finished copy is there."""
    if (folder / "complete").exists():
        return
    data = Path(verovio.__file__).parent / "data"
    folder.mkdir(parents=True, exist_ok=True)
    for css in _CSS:
        text = (data / css).read_text(encoding="utf-8")
        for i, encoded in enumerate(re.findall(r"base64,([A-Za-z0-9+/=]+)", text)):
            font = TTFont(io.BytesIO(base64.b64decode(encoded)))
            font.flavor = None
            target = folder / f"{css[:-4]}-{i}.otf"
            tmp = temporary(target)
            font.save(tmp)
            tmp.replace(target)
    (folder / "complete").touch()
