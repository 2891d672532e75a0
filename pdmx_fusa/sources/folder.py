"""A folder of score files, searched recursively; ids are the paths relative to the folder."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from ..config import ConfigError
from ..files import is_utf8, printable
from ..records import ScoreRef


def list_scores(root: Path, extensions: Iterable[str]) -> list[ScoreRef]:
    """Every entry under ``root`` whose lowercase suffix is in ``extensions``, whatever it is.

    Regular files are the scores; every other entry named like a score is listed too, so that the
    parse stage's container check makes it a failure row with its reason instead of it vanishing:
    a symbolic link (to a file or a folder, inside the root or out of it; never followed, never
    descended into, never read), a FIFO, a socket, a device, a folder (listed, and searched like any
    other folder: the scores inside it are listed on their own). Nothing here follows a link or
    opens an entry: the search goes by ``lstat`` only, so each listed path is ``root`` joined with
    names of real folders and of the entry itself.

    A path that is not valid UTF-8 could not be written to the dataset nor to ``failures.jsonl``:
    its id carries the bytes that are not UTF-8 as ``\\xNN`` (``caf\\xe9.krn``), with ``~2``,
    ``~3``... added in the rare case that this spelling is already another entry's id; such an
    entry becomes a failure row ("name is not valid UTF-8") and is never read. A folder
    that cannot be searched is left out with a warning.
    """
    root = Path(root).resolve()
    if not is_utf8(str(root)):
        raise ConfigError(f"source.root {printable(str(root))!r}: the path is not valid UTF-8")
    wanted = {"." + ext.lower().lstrip(".") for ext in extensions}
    named, unnamed, unsearched = [], [], []
    folders = [""]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(root / folder if folder else root) as entries:
                found = sorted((entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries)
        except OSError as err:
            unsearched.append(f"{printable(folder) or '.'} ({err.strerror or err})")
            continue
        for name, is_folder in reversed(found):
            rel = f"{folder}/{name}" if folder else name
            if os.path.splitext(name)[1].lower() in wanted:
                (named if is_utf8(rel) else unnamed).append(rel)
            if is_folder:
                folders.append(rel)
    refs = [ScoreRef(score_id=rel, path=str(root / rel), source="folder", group="") for rel in named]
    taken = set(named)
    for rel in sorted(unnamed, key=os.fsencode):
        spelled, copy = printable(rel), 1
        score_id = spelled
        while score_id in taken:
            copy += 1
            score_id = f"{spelled}~{copy}"
        taken.add(score_id)
        refs.append(ScoreRef(score_id=score_id, path=str(root / rel), source="folder", group=""))
    if unsearched:
        shown = ", ".join(unsearched[:5]) + (", ..." if len(unsearched) > 5 else "")
        warnings.warn(f"{len(unsearched)} folder(s) under {printable(str(root))} could not be searched: {shown}", stacklevel=2)
    return refs
