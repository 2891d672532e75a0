"""Slow: real corpora built end to end (all 105 asap-dev MuseScore scores, a sample of the Humdrum
scores), held to the same promises as the default build. Run with ``-m slow``."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import CORPORA, REPO, build, needs_corpora
from invariants import check_config, check_midi, check_notes, validated

pytestmark = [pytest.mark.slow, needs_corpora]

FOLDER_PIPELINE = REPO / "pipelines" / "folder.toml"
MAX_FAILED = 0.10  # share of real scores a build may leave out (each with a reason)


@pytest.fixture(scope="module")
def asap_build(tmp_path_factory):
    return build(tmp_path_factory.mktemp("asap") / "pdmx_fusa", f"source.root={json.dumps(str(CORPORA / 'asap-dev'))}", pipeline=FOLDER_PIPELINE)


@pytest.fixture(scope="module")
def humdrum_build(tmp_path_factory):
    """Every sixth Humdrum file (about 50, all five collections)."""
    files = sorted((CORPORA / "humdrum-piano").rglob("*.krn"))[::6]
    root = tmp_path_factory.mktemp("humdrum") / "scores"
    for file in files:
        target = root / file.relative_to(CORPORA / "humdrum-piano")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, target)
    return build(tmp_path_factory.mktemp("humdrum-out") / "pdmx_fusa", f"source.root={json.dumps(str(root))}", pipeline=FOLDER_PIPELINE)


BUILDS = ["asap_build", "humdrum_build"]


@pytest.mark.parametrize("name", BUILDS)
def test_failures_are_few_and_explained(name, request):
    built = request.getfixturevalue(name)
    outcomes = built.report.outcomes
    failed = [o for o in outcomes if o.failure]
    assert len(failed) <= MAX_FAILED * len(outcomes), [(o.ref.score_id, o.failure.reason) for o in failed]
    manifest = [json.loads(line) for line in (built.out / "failures.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(row["score_id"] for row in manifest) == sorted(o.ref.score_id for o in failed)
    for row in manifest:
        assert row["stage"] in ("parse", "timeline", "engrave", "visits", "align", "split", "plan", "render", "examples", "write") and row["reason"].strip()
    assert {row["score_id"] for row in built.all_rows()} == {o.ref.score_id for o in outcomes if not o.failure and o.examples}


@pytest.mark.parametrize("name", BUILDS)
@pytest.mark.parametrize("check", [check_config, check_midi, check_notes], ids=lambda f: f.__name__)
def test_invariants(name, check, request):
    check(request.getfixturevalue(name))


@pytest.mark.parametrize("name", BUILDS)
def test_validate(name, request, capsys):
    """``pdmx-fusa validate``'s every check, with its figures (audio onsets among them)."""
    report = validated(request.getfixturevalue(name).out)
    with capsys.disabled():
        print(f"\n{name}:\n{report.text()}")
    assert report.passed, report.text()
