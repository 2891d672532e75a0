"""Isolation: a score that crashes, hangs, exhausts memory or raises in any stage becomes one
failure row naming the stage and the reason, and every other score is built as usual."""

from __future__ import annotations

import json

import pytest

from conftest import build
from pdmx_fusa.build.isolation import FAULTS_ENV, parse_faults

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
