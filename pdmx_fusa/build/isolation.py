"""One score per forked child process: a crash, a hang or a runaway allocation ends the child,
never the build. Also the fault-injection switch that proves it.

The child inherits everything its parent loaded (soundfonts above all), runs the call under an
address-space limit, reports each stage it enters over a pipe, and sends its result back pickled.
"""

from __future__ import annotations

import os
import pickle
import resource
import select
import signal
import time
from dataclasses import dataclass

FAULTS_ENV = "PDMX_FUSA_FAULTS"
FAULT_KINDS = ("crash", "hang", "memory", "raise")


@dataclass(frozen=True)
class Ended:
    """How an isolated call ended without a result."""

    reason: str
    stage: str  # the last stage the child entered
    peak_rss_mb: float


def call_isolated(fn, *args, timeout: float, memory_mb: int):
    """``fn(*args, on_stage=...)`` in a forked child; returns ``(result, peak_rss_mb)`` or an :class:`Ended`."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        code = 1
        try:
            limit = memory_mb * 2**20
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            with os.fdopen(write_end, "wb") as pipe:

                def on_stage(name: str) -> None:
                    pipe.write(b"S" + name.encode() + b"\n")
                    pipe.flush()

                payload = pickle.dumps(fn(*args, on_stage=on_stage))
                pipe.write(b"R" + len(payload).to_bytes(8, "big") + payload)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    data, timed_out = _read_until_eof(read_end, timeout)
    os.close(read_end)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    peak = usage.ru_maxrss / 1024
    stage, result = _messages(data)
    if timed_out:
        return Ended(f"timeout after {timeout:g} s", stage, peak)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return Ended(f"crashed: signal {number} ({signal.Signals(number).name})", stage, peak)
    if result is None:
        return Ended(f"worker exited with status {os.WEXITSTATUS(status)} without a result", stage, peak)
    return result, peak


def _read_until_eof(fd: int, timeout: float) -> tuple[bytes, bool]:
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return b"".join(chunks), True
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)


def _messages(data: bytes):
    """The last stage reported and the result, if the child got that far."""
    stage, result, i = "", None, 0
    while i < len(data):
        if data[i : i + 1] == b"S":
            end = data.index(b"\n", i)
            stage, i = data[i + 1 : end].decode(), end + 1
        else:
            size = int.from_bytes(data[i + 1 : i + 9], "big")
            result, i = pickle.loads(data[i + 9 : i + 9 + size]), len(data)
    return stage, result


def parse_faults(spec: str) -> dict[str, dict[str, str]]:
    """``"parse:crash:id1,id2;render:hang:id3"`` to ``{score_id: {stage: kind}}``."""
    faults: dict[str, dict[str, str]] = {}
    for entry in filter(None, (e.strip() for e in spec.split(";"))):
        stage, _, rest = entry.partition(":")
        kind, _, ids = rest.partition(":")
        if kind not in FAULT_KINDS or not ids:
            raise ValueError(f"{FAULTS_ENV}: {entry!r} is not stage:kind:id[,id...] with kind in {FAULT_KINDS}")
        for score_id in ids.split(","):
            faults.setdefault(score_id, {})[stage] = kind
    return faults


def inject(kind: str) -> None:
    """Fail the way ``kind`` says, from inside the stage that is about to run."""
    if kind == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif kind == "hang":
        while True:
            time.sleep(60)
    elif kind == "memory":
        hog = []
        while True:
            hog.append(bytearray(64 * 2**20))
    raise RuntimeError("injected fault")
