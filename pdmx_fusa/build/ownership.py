"""What a build may touch: only folders it can prove it wrote.

Every folder a build makes (the dataset, its ``.partial`` twin, the cache) holds a marker file,
``.pdmx-fusa``, naming the tool and the build id. A build deletes or replaces a folder only if
the marker is there; anything else in its way is refused, naming the path, before any work.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError
from ..files import sync_folder

MARKER = ".pdmx-fusa"
_TOOL = "pdmx-fusa"


@dataclass(frozen=True)
class Layout:
    """The paths one build writes: ``out`` (an output given as a symlink is followed to its
    target), ``partial`` and ``old`` beside it for the swap, ``lock`` and ``cache``."""

    out: Path
    partial: Path
    old: Path
    lock: Path
    cache: Path

    @classmethod
    def of(cls, out: str | Path, cache: str | Path = "") -> Layout:
        target = Path(out).expanduser().absolute()
        if target.is_symlink():
            target = target.resolve()
        else:
            target = target.parent.resolve() / target.name
        beside = target.with_name
        cache_path = Path(cache).expanduser().absolute() if cache else beside(target.name + ".cache")
        return cls(target, beside(target.name + ".partial"), beside(target.name + ".old"), beside(target.name + ".lock"), cache_path)


def owned(folder: Path) -> bool:
    """Whether ``folder`` is a real folder (not a link) holding this tool's marker."""
    try:
        if folder.is_symlink() or not folder.is_dir():
            return False
        return json.loads((folder / MARKER).read_text(encoding="utf-8")).get("written_by") == _TOOL
    except (OSError, ValueError, AttributeError):
        return False


def mark(folder: Path, build_id: str) -> None:
    """Make ``folder`` (if missing) and write the marker that proves this tool wrote it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(json.dumps({"written_by": _TOOL, "build_id": build_id}) + "\n", encoding="utf-8")


def _empty_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def check_layout(layout: Layout, source_root: Path | None) -> None:
    """Refuse, naming the path and the fix, any output, cache or swap folder this build did not
    write, and outputs or caches nested with the source."""
    out, cache = layout.out, layout.cache
    real_cache = cache.resolve()
    places = [("output", out), ("cache", real_cache)]
    if source_root is not None:
        root = source_root.resolve()
        for name, path in places:
            if path.is_relative_to(root):
                raise ConfigError(f"{name} {path}: inside the source root {root}; write it somewhere else")
            if root.is_relative_to(path):
                raise ConfigError(f"{name} {path}: holds the source root {root}; write it somewhere else")
    if real_cache.is_relative_to(out) or out.is_relative_to(real_cache):
        raise ConfigError(f"cache {real_cache} and output {out} are nested; set output.cache beside the output, not inside it")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output {out}: exists and is not a folder; choose another --output")
    if out.exists() and not _empty_folder(out) and not owned(out):
        raise ConfigError(
            f"output {out}: exists and was not written by pdmx-fusa (no {MARKER} marker); nothing was touched. "
            "Choose another --output, or move that folder away"
        )
    for path in (layout.partial, layout.old):
        if (path.exists() or path.is_symlink()) and not owned(path):
            raise ConfigError(f"{path}: exists beside the output and was not written by pdmx-fusa; move it away or choose another --output")
    if cache.exists() and not cache.is_dir():
        raise ConfigError(f"cache {cache}: exists and is not a folder; set output.cache to another folder")
    if cache.exists() and not _empty_folder(cache) and not owned(cache):
        raise ConfigError(
            f"cache {cache}: exists and was not written by pdmx-fusa (no {MARKER} marker); set output.cache to another folder, or move it away"
        )


def remove(folder: Path) -> None:
    """Delete ``folder`` if this tool wrote it; never anything else."""
    if owned(folder):
        shutil.rmtree(folder)


def swap(partial: Path, layout: Layout) -> None:
    """Put the finished ``partial`` where the output is; the previous build (ours, checked before
    any work) is kept aside until the new one is in place, then deleted."""
    out = layout.out
    if out.exists() and not _empty_folder(out):
        if not owned(out):  # something appeared there during the build
            raise ConfigError(f"output {out}: was replaced during the build by something pdmx-fusa did not write; nothing was touched")
        os.rename(out, layout.old)
    os.rename(partial, out)  # onto a missing or empty folder
    sync_folder(out.parent)
    remove(layout.old)
