"""Resume: a build killed with SIGKILL part-way and run again redoes only what was missing, and
its shards are byte-identical to an uninterrupted build's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from conftest import SOUNDFONTS, build


def shard_bytes(out):
    return {p.name: p.read_bytes() for p in sorted((out / "data").glob("*.parquet"))}


def test_killed_build_resumes_to_the_same_shards(default_build, tmp_path):
    out = tmp_path / "pdmx_fusa"
    cache = tmp_path / "pdmx_fusa.cache"
    args = [f"render.soundfonts={json.dumps(str(SOUNDFONTS))}", "run.workers=2"]
    code = f"from pdmx_fusa.cli import main; main(['build', '--quiet', '--output', {str(out)!r}] + sum([['--set', a] for a in {args!r}], []))"
    child = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(cache.glob("*/*.json"))) < 4 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)  # the build, its workers and their children
    child.wait()
    done_before = len(list(cache.glob("*/*.json")))
    assert 4 <= done_before < 13 and not (out / "SHA256SUMS").exists(), "the kill did not land mid-build"

    resumed = build(out, *args[1:])
    outcomes = resumed.report.outcomes
    assert sum(o.cached for o in outcomes) >= done_before - 1  # an entry may have been mid-rename
    assert sum(not o.cached for o in outcomes) >= 13 - done_before
    assert shard_bytes(out) == shard_bytes(default_build.out)
    assert (out / "SHA256SUMS").read_text() == (default_build.out / "SHA256SUMS").read_text()

    again = build(out, *args[1:])
    assert all(o.cached for o in again.report.outcomes)
    assert shard_bytes(out) == shard_bytes(default_build.out)
