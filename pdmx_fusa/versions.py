"""Versions of the tools that shape the output, recorded in the card and in every failure row."""

from __future__ import annotations

import functools
import platform
from importlib.metadata import version

import soundfile
import verovio

from . import __version__
from .audio.synth import fluidsynth_version


@functools.cache
def tool_versions() -> dict[str, str]:
    return {
        "pdmx-fusa": __version__,
        "verovio": verovio.toolkit(False).getVersion(),
        "fluidsynth": fluidsynth_version(),
        "skia-python": version("skia-python"),
        "libsndfile": soundfile.__libsndfile_version__,
        "python": platform.python_version(),
    }
