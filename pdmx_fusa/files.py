"""Files written so that no reader ever sees one half-written, and the machine-wide cache folder."""

from __future__ import annotations

import os
from pathlib import Path


def machine_cache() -> Path:
    """``$XDG_CACHE_HOME/pdmx-fusa`` (``~/.cache/pdmx-fusa`` by default): what the package derives
    once per machine (fonts for the rasteriser, decoded soundfonts, soundfont digests)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pdmx-fusa"


def temporary(path: Path) -> Path:
    """A name beside ``path``, unique to this process, to write to and then rename onto ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (its folder made if missing) through a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary(path)
    tmp.write_bytes(data)
    tmp.replace(path)
