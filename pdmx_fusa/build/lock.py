"""One build per output: an exclusive ``flock`` on ``<output>.lock``, held for the whole build.

The kernel releases the lock when the build process ends, however it ends, so a killed build
never leaves a stale lock; the file itself stays and is reused. Processes forked by the build
(workers, score children) close their copy of the lock at once: only the build process holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from ..config import ConfigError

_TOOL = "pdmx-fusa"
_held: set[int] = set()  # descriptors of the locks this process holds


def _close_inherited() -> None:
    for fd in _held:
        os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_close_inherited)


@contextlib.contextmanager
def exclusive(path: Path, output: Path, build_id: str) -> Iterator[None]:
    """Hold the lock of ``output`` at ``path``; refuse at once, naming the holder's PID, if another
    build holds it. A file at ``path`` that this tool did not write is refused, not overwritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise ConfigError(f"lock {path}: cannot open ({err.strerror}); the folder of the output must be writable") from None
    try:
        holder = _read(fd)
        if os.fstat(fd).st_size and holder.get("written_by") != _TOOL:
            raise ConfigError(f"{path}: exists beside the output and was not written by pdmx-fusa; move it away or choose another --output")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"output {output}: another build (PID {holder.get('pid', '?')}) is writing it; wait for it to finish or choose another --output"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"written_by": _TOOL, "pid": os.getpid(), "build_id": build_id}).encode() + b"\n", 0)
        _held.add(fd)
        yield
    finally:
        if fd in _held:
            _held.discard(fd)
        os.close(fd)


def _read(fd: int) -> dict:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
