"""Isolation: a score that crashes, hangs, exhausts memory or raises in any stage becomes one
failure row naming the stage and the reason, and every other score is built as usual. The memory
limit counts what the score allocates, not the soundfonts and libraries it shares with its
parent; the child ignores Ctrl-C and dies with its parent."""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, build
from pdmx_fusa.build import isolation
from pdmx_fusa.build.isolation import FAULTS_ENV, Ended, call_isolated, parse_faults
from pdmx_fusa.config import ConfigError, load_config

FAULTS = {
    "music21/bach/bwv846.mxl": ("parse", "crash", "crashed: signal 11 (SIGSEGV)"),
    "music21/cpebach/h186.mxl": ("render", "hang", "timeout after 8 s"),
    "music21/demos/two-parts.xml": ("engrave", "memory", "memory limit (2048 MiB)"),
    "music21/joplin/maple_leaf_rag.mxl": ("align", "raise", "RuntimeError: injected fault"),
}


@pytest.fixture(scope="module")
def faulty_build(tmp_path_factory):
    spec = ";".join(f"{stage}:{kind}:{score}" for score, (stage, kind, _) in FAULTS.items())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(FAULTS_ENV, spec)
        return build(tmp_path_factory.mktemp("faults") / "pdmx_fusa", "source.limit=6", "run.timeout_s=8", "run.memory_mb=2048")


def test_each_fault_is_one_failure_row(faulty_build):
    rows = [json.loads(line) for line in (faulty_build.out / "failures.jsonl").read_text().splitlines()]
    assert {row["score_id"]: (row["stage"], row["reason"]) for row in rows} == {
        score: (stage, reason) for score, (stage, _, reason) in FAULTS.items()
    }
    assert all(row["tool_versions"]["verovio"] for row in rows)


def test_the_rest_is_built(faulty_build):
    built = {row["score_id"] for row in faulty_build.all_rows()}
    healthy = {o.ref.score_id for o in faulty_build.report.outcomes} - set(FAULTS)
    assert len(healthy) == 2 and built == healthy
    assert all(0 < o.peak_rss_mb < 2048 for o in faulty_build.report.outcomes if not o.failure)


def test_fault_spec_is_checked():
    assert parse_faults("parse:crash:a,b; render:hang:c") == {"a": {"parse": "crash"}, "b": {"parse": "crash"}, "c": {"render": "hang"}}
    with pytest.raises(ValueError, match=FAULTS_ENV):
        parse_faults("parse:explode:a")


# --- the memory limit counts the score's own memory -------------------------------------------

ONE_PAGE = "theoryExercises/TriadExercise.mxl"
BLOWS_UP = "demos/two-parts.xml"


@pytest.fixture(scope="module")
def small_limit_build(tmp_path_factory):
    """Two one-page scores from music21's corpus under a 1024 MiB limit, one of them blowing up."""
    music21 = pytest.importorskip("music21")
    corpus = tmp_path_factory.mktemp("corpus")
    for rel in (ONE_PAGE, BLOWS_UP):
        shutil.copyfile(os.path.join(os.path.dirname(music21.__file__), "corpus", rel), corpus / os.path.basename(rel))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(FAULTS_ENV, f"engrave:memory:{os.path.basename(BLOWS_UP)}")
        return build(
            tmp_path_factory.mktemp("small") / "pdmx_fusa",
            "source.kind=folder", f"source.root={json.dumps(str(corpus))}", "run.memory_mb=1024", "run.timeout_s=120",
        )


def test_a_one_page_score_builds_under_1024_mib(small_limit_build):
    built = {row["score_id"] for row in small_limit_build.all_rows()}
    assert built == {os.path.basename(ONE_PAGE)}
    (ok,) = [o for o in small_limit_build.report.outcomes if not o.failure]
    assert 0 < ok.peak_rss_mb < 2048


def test_a_blow_up_under_1024_mib_is_one_row(small_limit_build):
    rows = [json.loads(line) for line in (small_limit_build.out / "failures.jsonl").read_text().splitlines()]
    assert [(r["score_id"], r["stage"], r["reason"]) for r in rows] == [
        (os.path.basename(BLOWS_UP), "engrave", "memory limit (1024 MiB)")
    ]


def _read_inherited(buffer, on_stage):
    on_stage("read")
    own = mmap.mmap(-1, 32 << 20)  # and maps some memory of its own, within the limit
    for _ in range(32):
        own.write(bytes(1 << 20))
    return hashlib.sha256(buffer).hexdigest(), own.tell()


def test_inherited_memory_is_not_counted():
    """Under a 64 MiB limit the child reads 256 MiB its parent holds and allocates 32 MiB."""
    buffer = bytearray(os.urandom(1 << 20)) * 256
    ended = call_isolated(_read_inherited, buffer, timeout=60, memory_mb=64)
    assert not isinstance(ended, Ended), ended
    assert ended[0] == (hashlib.sha256(buffer).hexdigest(), 32 << 20)


def _allocate(mib, on_stage):
    on_stage("allocate")
    hog = []
    for _ in range(mib // 16):
        hog.append(bytearray(16 << 20))
        time.sleep(0.02)
    on_stage("hold")
    time.sleep(20)
    return len(hog)


def _write_inherited(buffer, on_stage):
    on_stage("write")
    buffer[:: os.sysconf("SC_PAGE_SIZE")] = b"x" * len(range(0, len(buffer), os.sysconf("SC_PAGE_SIZE")))
    on_stage("hold")
    time.sleep(20)


def test_allocations_past_the_limit_end_the_child():
    """96 MiB allocated under a 64 MiB limit: the parent kills the child (the address-space
    backstop, 2 x 64 MiB above what it inherited, is not reached)."""
    start = time.monotonic()
    ended = call_isolated(_allocate, 96, timeout=60, memory_mb=64)
    assert isinstance(ended, Ended), ended
    assert (ended.reason, ended.stage in ("allocate", "write", "hold")) == ("memory limit (64 MiB)", True)
    assert time.monotonic() - start < 10


def test_copies_of_inherited_pages_count(monkeypatch):
    """Writing to 128 MiB inherited from the parent copies every page: private memory, though the
    child's resident size does not grow."""
    buffer = bytearray(128 << 20)
    buffer[:: os.sysconf("SC_PAGE_SIZE")] = b"y" * len(range(0, len(buffer), os.sysconf("SC_PAGE_SIZE")))  # resident
    monkeypatch.setattr(isolation, "_exact_cost", 0.001)  # a first reading after 0.2 s
    start = time.monotonic()
    ended = call_isolated(_write_inherited, buffer, timeout=60, memory_mb=64)
    assert isinstance(ended, Ended), ended
    assert (ended.reason, ended.stage in ("allocate", "write", "hold")) == ("memory limit (64 MiB)", True)
    assert time.monotonic() - start < 15


def test_memory_mb_has_a_documented_minimum():
    assert load_config(None, ["run.memory_mb=512"]).run.memory_mb == 512
    with pytest.raises(ConfigError, match=r"run\.memory_mb must be at least 512.*run\.memory_mb="):
        load_config(None, ["run.memory_mb=256"])


# --- Ctrl-C and a killed worker ----------------------------------------------------------------

WORKER = """
import os, signal, sys, time
from pdmx_fusa.build.isolation import call_isolated

def score(path, seconds, on_stage):
    with open(path + ".tmp", "w") as file:
        file.write(str(os.getpid()))
    os.rename(path + ".tmp", path)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.02)
    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN

signal.signal(signal.SIGINT, lambda *_: print("worker: SIGINT", flush=True))  # the worker handles Ctrl-C
print("result:", call_isolated(score, sys.argv[1], float(sys.argv[2]), timeout=60, memory_mb=1024)[0], flush=True)
"""


def _start_worker(tmp_path, seconds: float):
    """A worker process in a session of its own (its own process group) whose child writes its pid
    to a file, then waits ``seconds``; returns the worker and the child's pid. The worker's output
    goes to files (a pipe would stay open as long as the child lives)."""
    pid_file = tmp_path / "child.pid"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(pid_file), str(seconds)], cwd=REPO, env=env,
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while not pid_file.exists():
        assert worker.poll() is None and time.monotonic() < deadline, (tmp_path / "err").read_text()
        time.sleep(0.02)
    return worker, int(pid_file.read_text())


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_the_child_ignores_ctrl_c(tmp_path):
    """SIGINT to the whole process group (Ctrl-C in a terminal): the worker handles it, the child
    carries on to its result and prints nothing."""
    worker, child = _start_worker(tmp_path, 1.5)
    try:
        os.killpg(worker.pid, signal.SIGINT)
        worker.wait(timeout=60)
    finally:
        if _running(child):
            os.kill(child, signal.SIGKILL)
    assert (tmp_path / "out").read_text().splitlines() == ["worker: SIGINT", "result: True"]
    assert (tmp_path / "err").read_text() == ""


def test_a_killed_worker_leaves_no_orphan(tmp_path):
    """SIGKILL to the worker: the kernel kills its score process with it."""
    worker, child = _start_worker(tmp_path, 30)
    try:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=60)
        deadline = time.monotonic() + 5
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(child), "the score process outlived its worker"
    finally:
        if _running(child):
            os.kill(child, signal.SIGKILL)
