"""One score per forked child process: a crash, a hang or a runaway allocation ends the child,
never the build. Also the fault-injection switch that proves it.

The child inherits everything its parent loaded (soundfonts above all), reports each stage it
enters over a pipe, and sends its result back pickled. Its memory limit counts what the score's
own work allocates, not what it shares with its parent: the parent watches the child's private
memory (``/proc/<pid>/smaps_rollup``) while it waits and kills the child when it passes the
limit. The child ignores SIGINT (its parent handles Ctrl-C and takes the child down with it) and
is killed by the kernel when its parent dies, so no score process outlives its worker. Linux.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import resource
import select
import signal
import time
from dataclasses import dataclass

FAULTS_ENV = "PDMX_FUSA_FAULTS"
FAULT_KINDS = ("crash", "hang", "memory", "raise")

MiB = 2**20
PAGE = os.sysconf("SC_PAGE_SIZE")
POLL_S = 0.1  # the child's resident memory (/proc/<pid>/statm, a few microseconds) is read this often
# smaps_rollup walks the child's page tables: 2-9 ms of CPU for a score child that shares 300 MiB
# of soundfonts and libraries. It is read so rarely that it costs at most this share of the time...
EXACT_SHARE = 0.005
# ... except when the resident memory says the limit may have been passed: then it confirms.
CONFIRM_SHARE = 0.1
MAX_GAP_S = 5.0  # and at least this often, however long a reading takes
# Address-space limit of the child, a backstop for allocations faster than the polling: what it
# inherited plus this many times the memory limit.
BACKSTOP_FACTOR = 2
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_exact_cost = 0.005  # CPU seconds one smaps_rollup reading took, last time this process measured it


@dataclass(frozen=True)
class Ended:
    """How an isolated call ended without a result."""

    reason: str
    stage: str  # the last stage the child entered
    peak_rss_mb: float


def call_isolated(fn, *args, timeout: float, memory_mb: int):
    """``fn(*args, on_stage=...)`` in a forked child; returns ``(result, peak_rss_mb)`` or an :class:`Ended`.

    ``memory_mb`` limits the child's private memory (pages it does not share with its parent);
    ``peak_rss_mb`` is the child's peak resident set, shared pages included.
    """
    parent = os.getpid()
    inherited = _anon_bytes("self")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_end)
        code = 1
        try:
            _settle_child(parent, memory_mb)
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
    watch = _Watch(pid, memory_mb * MiB, inherited)
    try:
        data, ended = _read_until_eof(read_end, timeout, watch)
    except BaseException:  # Ctrl-C in this process: the child goes with it
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(read_end)
        watch.close()
    if ended:
        os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    peak = usage.ru_maxrss / 1024
    stage, result = _messages(data)
    if ended == "timeout":
        return Ended(f"timeout after {timeout:g} s", stage, peak)
    if ended == "memory":
        return Ended(f"memory limit ({memory_mb} MiB)", stage, peak)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return Ended(f"crashed: signal {number} ({signal.Signals(number).name})", stage, peak)
    if result is None:
        return Ended(f"worker exited with status {os.WEXITSTATUS(status)} without a result", stage, peak)
    return result, peak


def _settle_child(parent: int, memory_mb: int) -> None:
    """In the child: ignore Ctrl-C, die with the parent, and cap the address space as a backstop.

    The kernel sends the SIGKILL when the thread that forked ends; that thread waits in
    :func:`call_isolated` until the child is gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, *map(ctypes.c_ulong, (signal.SIGKILL, 0, 0, 0)))
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)
    size = _vm_bytes("self")
    if size:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = size + BACKSTOP_FACTOR * memory_mb * MiB
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _load_libc():
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_libc = _load_libc()


def _statm(pid) -> list[int]:
    try:
        with open(f"/proc/{pid}/statm", "rb") as file:
            return [int(field) * PAGE for field in file.read().split()]
    except (OSError, ValueError):
        return []


def _vm_bytes(pid) -> int:
    """The address space of process ``pid`` (``"self"``) in bytes; 0 where /proc cannot say."""
    statm = _statm(pid)
    return statm[0] if statm else 0


def _anon_bytes(pid) -> int:
    """Resident anonymous memory of ``pid``: resident minus file-backed and shared memory."""
    statm = _statm(pid)
    return statm[1] - statm[2] if statm else 0


class _Watch:
    """The parent's view of the child's private memory, read cheaply and often.

    Private memory (``Private_Clean + Private_Dirty + Swap`` of smaps_rollup) is what the child
    holds alone: what it allocated and its copies of inherited pages it wrote to. Reading it costs
    milliseconds, so between two readings it is estimated from the growth of the child's resident
    anonymous memory (``statm``, microseconds), and read again when that estimate passes the
    limit: the child is killed only on a reading. Copies of inherited pages do not change the
    resident size; the periodic reading finds them.
    """

    def __init__(self, pid: int, limit: int, inherited: int):
        self.limit = limit
        self.private = 0  # at the last reading (just forked: nothing yet)
        self.anon = inherited  # resident anonymous memory at the last reading
        self.read_at = time.monotonic()
        self.statm = self.rollup = -1
        try:
            self.statm = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
            self.rollup = os.open(f"/proc/{pid}/smaps_rollup", os.O_RDONLY)
        except OSError:  # not Linux, or a kernel before 4.14: only the address-space backstop
            self.close()

    def over_limit(self) -> bool:
        """Whether the child's private memory is past the limit (checked at most every ``POLL_S``)."""
        global _exact_cost
        if self.rollup < 0:
            return False
        try:
            statm = os.pread(self.statm, 256, 0).split()
            anon = (int(statm[1]) - int(statm[2])) * PAGE
        except (OSError, ValueError, IndexError):  # the child has exited
            return False
        estimate = self.private + max(0, anon - self.anon)
        share = CONFIRM_SHARE if estimate > self.limit else EXACT_SHARE
        now = time.monotonic()
        if now < self.read_at + min(MAX_GAP_S, _exact_cost / share):
            return False
        cpu = time.thread_time()
        try:
            rollup = os.pread(self.rollup, 4096, 0)
        except OSError:
            return False
        private = _private_bytes(rollup)
        if private is None:  # a zombie: nothing mapped any more
            return False
        _exact_cost, self.read_at, self.private, self.anon = time.thread_time() - cpu, time.monotonic(), private, anon
        return private > self.limit

    def close(self) -> None:
        for fd in (self.statm, self.rollup):
            if fd >= 0:
                os.close(fd)
        self.statm = self.rollup = -1


def _private_bytes(rollup: bytes) -> int | None:
    """``Private_Clean + Private_Dirty + Swap`` of a smaps_rollup text, in bytes."""
    total, found = 0, False
    for line in rollup.splitlines():
        if line.startswith((b"Private_Clean:", b"Private_Dirty:", b"Swap:")):
            total += int(line.split()[1]) * 1024
            found = True
    return total if found else None


def _read_until_eof(fd: int, timeout: float, watch: _Watch) -> tuple[bytes, str]:
    """What the child wrote, and ``""``, or ``"timeout"`` or ``"memory"`` if it must be killed."""
    deadline = time.monotonic() + timeout
    check = time.monotonic() + POLL_S
    chunks = []
    while True:
        now = time.monotonic()
        if now >= deadline:
            return b"".join(chunks), "timeout"
        if now >= check:
            if watch.over_limit():
                return b"".join(chunks), "memory"
            check = now + POLL_S
        if select.select([fd], [], [], min(deadline, check) - now)[0]:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks), ""
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
