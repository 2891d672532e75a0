"""The per-score cache: entries that survive a moved collection, damaged entries found, reported
once and rebuilt, failures kept until their inputs or (for a timeout or the memory limit) their
limit change, and nothing of a run with injected faults kept."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import signal
from pathlib import Path

import pytest

import pdmx_fusa

from conftest import build, build_config
from pdmx_fusa.audio.soundfonts import read_soundfonts
from pdmx_fusa.build import process as process_module
from pdmx_fusa.build.cache import entry, lookup, save, score_key
from pdmx_fusa.build.process import isolated
from pdmx_fusa.build.shards import stage
from pdmx_fusa.files import write_atomic
from pdmx_fusa.records import Failure, ScoreRef
from pdmx_fusa.sources import embedded
from pdmx_fusa.versions import code_digest, tool_versions

# Three of the smallest embedded scores, a few seconds to build together.
SMALL = ("theoryExercises/TriadExercise.mxl", "schoenberg/opus19/movement6.mxl", "mozart/k545/movement1_exposition.mxl")
BROKEN = "broken.xml"  # rejected by the parse stage: a failure row that names its path
CACHE_LOG = "pdmx_fusa.build.cache"


def score_folder(root: Path) -> Path:
    """A folder source: three small real scores and one that is not well-formed XML."""
    corpus = embedded.corpus_dir()
    for rel in SMALL:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus / rel, root / rel)
    (root / BROKEN).write_text('<?xml version="1.0"?>\n<score-partwise><part>', encoding="utf-8")
    return root


def folder_args(root: Path, cache: Path) -> tuple[str, ...]:
    quoted = {name: json.dumps(str(path)) for name, path in (("root", root), ("cache", cache))}
    return ("source.kind=folder", f"source.root={quoted['root']}", f"output.cache={quoted['cache']}", "run.workers=1")


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "data").glob("*.parquet"))}


def cache_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == CACHE_LOG and r.levelno >= logging.WARNING]


def small_ref() -> ScoreRef:
    rel = SMALL[0]
    return ScoreRef(f"music21/{rel}", str(embedded.corpus_dir() / rel), "embedded", "", license=embedded.LICENSE)


def test_corrupt_entries_are_reported_once_discarded_and_rebuilt(tmp_path, caplog):
    scores, cache, out = score_folder(tmp_path / "scores"), tmp_path / "cache", tmp_path / "out"
    args = folder_args(scores, cache)
    clean = build(out, *args)
    expected = shard_bytes(out)
    staged = {o.ref.score_id: Path(o.staged) for o in clean.report.outcomes if o.staged}
    assert sorted(staged) == sorted(SMALL) and all(p.is_relative_to(cache) for p in staged.values())

    truncated, garbage = SMALL[0], SMALL[1]
    rows = staged[truncated]
    rows.write_bytes(rows.read_bytes()[: rows.stat().st_size // 2])  # a torn write, its summary intact
    summary = staged[garbage].with_suffix(".json")
    summary.write_bytes(b'{"outcome": {"split": "tra')

    caplog.clear()
    rebuilt = build(out, *args)
    reported = cache_warnings(caplog)
    assert len(reported) == 2, reported
    assert any(truncated in line and str(rows) in line for line in reported), reported
    assert any(garbage in line and str(summary) in line for line in reported), reported
    assert all(line.startswith("cache: discarded a corrupt entry for ") and line.endswith("; rebuilding") for line in reported)
    assert {o.ref.score_id for o in rebuilt.report.outcomes if not o.cached} == {truncated, garbage}
    assert shard_bytes(out) == expected

    caplog.clear()
    again = build(out, *args)
    assert cache_warnings(caplog) == []
    assert all(o.cached for o in again.report.outcomes)
    assert shard_bytes(out) == expected


CORRUPTIONS = {
    "rows truncated": lambda rows, summary: rows.write_bytes(rows.read_bytes()[:-7]),
    "rows empty": lambda rows, summary: rows.write_bytes(b""),
    "rows missing": lambda rows, summary: rows.unlink(),
    "rows byte flipped": lambda rows, summary: rows.write_bytes(bytes(b ^ (i == 100) for i, b in enumerate(rows.read_bytes()))),
    "summary truncated": lambda rows, summary: summary.write_bytes(summary.read_bytes()[:40]),
    "summary empty": lambda rows, summary: summary.write_bytes(b""),
    "summary binary": lambda rows, summary: summary.write_bytes(b"\x00\xff" * 50),
    "summary edited": lambda rows, summary: summary.write_text(summary.read_text().replace('"examples": 3', '"examples": 4')),
    "summary without checksum": lambda rows, summary: summary.write_text(
        json.dumps({k: v for k, v in json.loads(summary.read_text()).items() if k != "checksum"})
    ),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_every_kind_of_damage_is_found_once(tmp_path, caplog, corruption):
    ref, run = small_ref(), build_config().run
    rows, summary = entry(tmp_path, "ab" + "0" * 62)
    write_atomic(rows, os.urandom(4096))
    save(tmp_path, rows.stem, ref, {"split": "train", "examples": 3, "failure": None}, run)
    assert lookup(tmp_path, rows.stem, ref, run)["examples"] == 3

    CORRUPTIONS[corruption](rows, summary)
    caplog.clear()
    assert lookup(tmp_path, rows.stem, ref, run) is None
    (line,) = cache_warnings(caplog)
    assert ref.score_id in line and (str(rows) in line or str(summary) in line)
    assert not rows.exists() and not summary.exists()
    assert lookup(tmp_path, rows.stem, ref, run) is None and len(cache_warnings(caplog)) == 1


def test_the_key_ignores_where_the_collection_lies(tmp_path):
    cfg = build_config()
    fonts, versions = read_soundfonts(cfg.render.soundfonts), tool_versions()
    ref = small_ref()
    moved = tmp_path / "elsewhere" / Path(ref.path).name
    moved.parent.mkdir()
    shutil.copyfile(ref.path, moved)
    key = score_key(ref, cfg, fonts, versions)
    assert score_key(dataclasses.replace(ref, path=str(moved)), cfg, fonts, versions) == key
    assert score_key(dataclasses.replace(ref, score_id="music21/other.mxl"), cfg, fonts, versions) != key
    assert score_key(dataclasses.replace(ref, title="Another"), cfg, fonts, versions) != key
    moved.write_bytes(moved.read_bytes() + b"\0")
    assert score_key(dataclasses.replace(ref, path=str(moved)), cfg, fonts, versions) != key


def test_a_moved_collection_keeps_its_cache(tmp_path):
    first, cache, out = score_folder(tmp_path / "a" / "scores"), tmp_path / "cache", tmp_path / "out"
    built = build(out, *folder_args(first, cache))
    expected = shard_bytes(out)
    assert not any(o.cached for o in built.report.outcomes)

    second = tmp_path / "b" / "mounted" / "elsewhere"
    shutil.copytree(first, second)
    shutil.rmtree(tmp_path / "a")  # nothing may still be read from the old place
    moved = build(out, *folder_args(second, cache))
    assert len(moved.report.outcomes) == len(SMALL) + 1 and all(o.cached for o in moved.report.outcomes)
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert [(f["score_id"], f["path"]) for f in failures] == [(BROKEN, str(second / BROKEN))]
    assert all(o.failure.path == o.ref.path for o in moved.report.outcomes if o.failure)
    assert shard_bytes(out) == expected


def test_a_real_failure_is_cached_until_its_limit_grows(tmp_path):
    ref, cache = small_ref(), tmp_path / "cache"
    fonts = read_soundfonts(build_config().render.soundfonts)

    def run(timeout_s: float):
        return isolated(ref, build_config(f"run.timeout_s={timeout_s}"), fonts, cache, {})

    first = run(0.01)
    assert first.failure and first.failure.reason == "timeout after 0.01 s" and not first.cached
    again = run(0.01)
    assert again.cached and again.failure == first.failure
    assert run(0.005).cached  # a smaller limit would time out too

    built = run(300)  # a larger limit: run again, and it builds
    assert not built.failure and built.examples > 0 and not built.cached
    reused = run(0.01)
    assert reused.cached and not reused.failure and reused.examples == built.examples


def test_a_memory_failure_is_cached_until_the_memory_limit_grows(tmp_path, monkeypatch):
    ref, cache = small_ref(), tmp_path / "cache"
    fonts = read_soundfonts(build_config().render.soundfonts)
    runs = tmp_path / "runs"  # written by the forked child

    def out_of_memory(ref, cfg, fonts, target, faults, on_stage):  # what process() returns on a MemoryError
        with runs.open("a") as file:
            file.write(f"{cfg.run.memory_mb}\n")
        failure = Failure(ref.score_id, ref.path, "render", f"memory limit ({cfg.run.memory_mb} MiB)", tool_versions())
        return process_module.Outcome(ref, failure=failure)

    monkeypatch.setattr(process_module, "process", out_of_memory)

    def run(memory_mb: int, timeout_s: float = 60):
        cfg = build_config(f"run.memory_mb={memory_mb}", f"run.timeout_s={timeout_s}")
        return isolated(ref, cfg, fonts, cache, {})

    assert not run(1024).cached
    assert run(1024).cached and run(512).cached and run(1024, timeout_s=600).cached
    assert not run(2048).cached and run(2048).cached
    assert runs.read_text().split() == ["1024", "2048"]


def _crash(ref, cfg, fonts, target, faults, on_stage):
    on_stage("engrave")
    os.kill(os.getpid(), signal.SIGSEGV)


def test_a_crash_is_cached_but_an_injected_fault_is_not(tmp_path, monkeypatch):
    ref, cache = small_ref(), tmp_path / "cache"
    cfg = build_config("run.timeout_s=60")
    fonts = read_soundfonts(cfg.render.soundfonts)

    for _ in range(2):
        injected = isolated(ref, cfg, fonts, cache, {"parse": "crash"})
        assert injected.failure.reason == "crashed: signal 11 (SIGSEGV)" and not injected.cached
    assert not list(cache.glob("*/*.json"))

    monkeypatch.setattr(process_module, "process", _crash)  # a real crash: no fault switch involved
    crashed = isolated(ref, cfg, fonts, cache, {})
    assert (crashed.failure.stage, crashed.failure.reason, crashed.cached) == ("engrave", "crashed: signal 11 (SIGSEGV)", False)
    reused = isolated(ref, cfg, fonts, cache, {})
    assert reused.cached and reused.failure == crashed.failure
    more_memory = build_config("run.timeout_s=60", f"run.memory_mb={cfg.run.memory_mb * 2}")
    assert not isolated(ref, more_memory, fonts, cache, {}).cached  # may have been a refused allocation


def test_entries_are_synced_before_and_after_their_rename(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    rows = tmp_path / "cache" / "ab" / "abc.arrow"
    stage([], rows)
    assert synced[-2:] == [str(rows.parent / f".abc.arrow.{os.getpid()}.tmp"), str(rows.parent)]
    assert str(rows.parent.parent) in synced  # the folder made for it, in its parent
    synced.clear()
    write_atomic(rows.with_suffix(".json"), b"{}")
    assert synced == [str(rows.parent / f".abc.json.{os.getpid()}.tmp"), str(rows.parent)]


def test_a_cached_failure_names_the_file_where_it_is_now(tmp_path):
    ref, run = small_ref(), build_config().run
    old = "/mnt/old/scores/x.mxl"
    failure = Failure(ref.score_id, old, "parse", f"OSError: cannot read {old}", {"verovio": "1"})
    save(tmp_path, "cd" + "1" * 62, dataclasses.replace(ref, path=old), {"failure": failure}, run)
    found = lookup(tmp_path, "cd" + "1" * 62, ref, run)["failure"]
    assert (found.path, found.reason) == (ref.path, f"OSError: cannot read {ref.path}")


def test_the_key_changes_with_the_code_that_builds(tmp_path):
    """An entry made by other producer code is never reused: the version recorded in the key (and
    in the card) carries a digest of the package's code, which a changed stage changes; the
    model's code, which builds nothing, is left out."""
    package = Path(pdmx_fusa.__file__).parent
    copy = tmp_path / "pdmx_fusa"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pt"))
    assert code_digest(copy) == code_digest(package)
    assert tool_versions()["pdmx-fusa"].endswith("+" + code_digest(package))
    (copy / "model" / "train.py").write_text((copy / "model" / "train.py").read_text() + "\n# a comment\n")
    assert code_digest(copy) == code_digest(package)
    (copy / "stages" / "timeline.py").write_text((copy / "stages" / "timeline.py").read_text() + "\n# a comment\n")
    assert code_digest(copy) != code_digest(package)
