"""A folder of score files, searched recursively; ids are the paths relative to the folder."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..records import ScoreRef


def list_scores(root: Path, extensions: Iterable[str]) -> list[ScoreRef]:
    """Every file under ``root`` (absolute) whose lowercase suffix is in ``extensions``.

    Symbolic links are not followed: one that stays inside ``root`` names a file listed under its
    own name already, and one that leaves it names a file outside the collection.
    """
    wanted = {"." + ext.lower().lstrip(".") for ext in extensions}
    refs = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if path.suffix.lower() in wanted and not path.is_symlink() and path.is_file():
                rel = path.relative_to(root).as_posix()
                refs.append(ScoreRef(score_id=rel, path=str(path), source="folder", group=""))
    return refs
