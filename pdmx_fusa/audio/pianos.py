"""Soundfont pianos loaded once per process, so every score a worker plays shares them."""

from __future__ import annotations

from .soundfonts import Soundfont
from .synth import Piano

_PIANOS: dict[tuple[str, int], Piano] = {}


class PianoPool(dict):
    """This process's soundfonts, each loaded on first use and kept for every later score."""

    def __init__(self, fonts: list[Soundfont], sample_rate: int):
        super().__init__()
        self._fonts = {f.name: f for f in fonts}
        self._rate = sample_rate

    def __missing__(self, name: str) -> Piano:
        font = self._fonts[name]
        key = (repr(font), self._rate)
        if key not in _PIANOS:
            _PIANOS[key] = Piano(font, self._rate)
        self[name] = _PIANOS[key]
        return self[name]


def load_pianos(fonts: list[Soundfont], sample_rate: int) -> None:
    """Load every soundfont into this process, once: processes forked later share them."""
    pianos = PianoPool(fonts, sample_rate)
    for font in fonts:
        pianos[font.name]
