"""Versions of the tools that shape the output, recorded in the card, in every failure row and in
the key of every cache entry."""

from __future__ import annotations

import functools
import hashlib
import platform
from importlib.metadata import version
from pathlib import Path

import soundfile
import verovio

from . import __version__
from .audio.synth import fluidsynth_version


@functools.cache
def tool_versions() -> dict[str, str]:
    return {
        "pdmx-fusa": f"{__version__}+{code_digest(Path(__file__).parent)}",
        "verovio": verovio.toolkit(False).getVersion(),
        "fluidsynth": fluidsynth_version(),
        "skia-python": version("skia-python"),
        "libsndfile": soundfile.__libsndfile_version__,
        "python": platform.python_version(),
    }


def code_digest(package: Path) -> str:
    """The first 12 hex digits of the sha256 of the package's Python code (every ``.py`` file but
    the model's, which builds nothing, by relative path and bytes): a build made by other code
    never reuses a cache entry, though the release number did not change."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.startswith("model/"):
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]
