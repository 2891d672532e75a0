"""A folder of score files, searched recursively; ids are the paths relative to the folder."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from ..records import ScoreRef


def list_scores(root: Path, extensions: Iterable[str]) -> list[ScoreRef]:
    """Every regular file under ``root`` whose lowercase suffix is in ``extensions``.

    Symbolic links are not followed, to files or to folders: one that stays inside ``root`` names a
    file listed under its own name already, and one that leaves it names a file outside the
    collection. Whatever is listed resolves to a path inside ``root``; nothing outside is listed.
    A path that is not valid UTF-8 is left out with a warning: its id could not be written to the
    dataset or to ``failures.jsonl``.
    """
    root = Path(root).resolve()
    wanted = {"." + ext.lower().lstrip(".") for ext in extensions}
    refs, unnamed = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not Path(dirpath, d).is_symlink())
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if path.suffix.lower() in wanted and not path.is_symlink() and path.is_file() and path.resolve().is_relative_to(root):
                rel = path.relative_to(root).as_posix()
                if _utf8(rel):
                    refs.append(ScoreRef(score_id=rel, path=str(path), source="folder", group=""))
                else:
                    unnamed.append(os.fsencode(rel).decode("utf-8", "backslashreplace"))
    if unnamed:
        shown = ", ".join(unnamed[:5]) + (", ..." if len(unnamed) > 5 else "")
        warnings.warn(f"{len(unnamed)} file(s) under {root} left out, their names not UTF-8: {shown}", stacklevel=2)
    return refs


def _utf8(name: str) -> bool:
    """Whether ``name`` (decoded from the file system with surrogate escapes) is valid UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
