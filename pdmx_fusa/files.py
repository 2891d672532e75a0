"""Files written so that no reader ever sees one half-written, and the machine-wide cache folder."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path


TEMPORARY_CACHE_ENV = "PDMX_FUSA_TEMPORARY_CACHE"  # the fall-back folder, handed to child processes
_checked: dict[Path, Path] = {}  # configured cache folder -> the folder this process uses for it
_temporary: tuple[Path, int] | None = None  # the fall-back folder this process made, and its pid


def configured_cache() -> Path:
    """``$XDG_CACHE_HOME/pdmx-fusa`` (``~/.cache/pdmx-fusa`` by default), writable or not."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pdmx-fusa"


def machine_cache() -> Path:
    """A writable folder for what the package derives once per machine (fonts for the rasteriser,
    decoded soundfonts, soundfont digests): :func:`configured_cache`, or where that cannot be
    made or written, :func:`temporary_cache` (with one warning)."""
    wanted = configured_cache()
    if wanted not in _checked:
        try:
            wanted.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".probe-", dir=wanted)
            os.close(fd)
            os.unlink(probe)
            _checked[wanted] = wanted
        except OSError as err:
            _checked[wanted] = temporary_cache(wanted, err.strerror or str(err))
    return _checked[wanted]


def temporary_cache(unwritable: Path, reason: str) -> Path:
    """The fall-back for a cache folder ``unwritable`` that cannot be written: one temporary folder
    per process tree (made under ``$TMPDIR`` by the first process that needs it, with one warning
    line on stderr, passed to child processes in ``$PDMX_FUSA_TEMPORARY_CACHE``, removed when
    that first process exits)."""
    global _temporary
    inherited = os.environ.get(TEMPORARY_CACHE_ENV)
    if inherited and Path(inherited).is_dir() and os.access(inherited, os.W_OK):
        return Path(inherited)
    folder = Path(tempfile.mkdtemp(prefix="pdmx-fusa-cache-"))
    _temporary = (folder, os.getpid())
    atexit.register(_remove_temporary)
    os.environ[TEMPORARY_CACHE_ENV] = str(folder)
    print(
        f"pdmx-fusa: warning: cache folder {unwritable} is not writable ({reason}); using {folder} "
        "for this run (removed at exit, so fonts and soundfonts are converted again next time): "
        "set XDG_CACHE_HOME to a writable folder to keep them",
        file=sys.stderr,
        flush=True,
    )
    return folder


def _remove_temporary() -> None:
    """Remove the fall-back folder, in the process that made it only (forked children inherit the
    exit handler, not the folder)."""
    global _temporary
    if _temporary and _temporary[1] == os.getpid():
        shutil.rmtree(_temporary[0], ignore_errors=True)
        if os.environ.get(TEMPORARY_CACHE_ENV) == str(_temporary[0]):
            del os.environ[TEMPORARY_CACHE_ENV]
        _temporary = None


def is_utf8(name: str) -> bool:
    """Whether a name read from the file system (surrogate-escaped where its bytes are not
    UTF-8) is valid UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(name: str) -> str:
    """``name`` with every byte that is not UTF-8 written ``\\xNN``: safe to print and to write as JSON."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def temporary(path: Path) -> Path:
    """A name beside ``path``, unique to this process, to write to and then rename onto ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def make_folder(folder: Path) -> None:
    """Make ``folder`` and its missing parents; a folder made here is synced into its parent."""
    if folder.is_dir():
        return
    make_folder(folder.parent)
    try:
        folder.mkdir()
    except FileExistsError:  # made meanwhile by another process
        return
    sync_folder(folder.parent)


def sync_file(path: Path) -> None:
    """Flush ``path``'s data to the disk (``fsync``)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: Path) -> None:
    """Flush ``folder``'s entries (a rename into it, a file made in it) to the disk. File systems
    that cannot sync a folder (some network and FUSE ones) are left as they are."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sync_tree(folder: Path) -> None:
    """Flush every file under ``folder``, then the folders themselves, to the disk."""
    for path in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        if path.is_file() and not path.is_symlink():
            sync_file(path)
        elif path.is_dir():
            sync_folder(path)
    sync_folder(folder)


def replace_synced(tmp: Path, path: Path) -> None:
    """Rename the written ``tmp`` onto ``path`` durably: ``tmp``'s data synced first, then the
    rename synced into the folder. ``tmp`` is removed if anything fails."""
    try:
        sync_file(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` (bytes or any buffer) to ``path`` (its folder made if missing) through a
    rename, synced to the disk: after a crash or power cut ``path`` holds the old bytes or all the new."""
    make_folder(path.parent)
    tmp = temporary(path)
    try:
        with open(tmp, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sync_folder(path.parent)
