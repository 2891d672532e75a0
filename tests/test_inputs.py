"""A folder of real and broken scores: the broken ones become rows of ``failures.jsonl`` with a stage
and a reason, the good ones are built, and the build (and the CLI) end normally."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import CORPORA, REPO, SOUNDFONTS, build, needs_corpora
from invariants import check_config, check_midi, check_validated
from pdmx_fusa import cli

pytestmark = needs_corpora

FOLDER_PIPELINE = REPO / "pipelines" / "folder.toml"

REST_ONLY = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" "http://www.musicxml.org/dtds/partwise.dtd">
<score-partwise version="4.0">
  <part-list>
    <score-part id="P1"><part-name>Piano</part-name></score-part>
  </part-list>
  <part id="P1">
    <measure number="1">
      <attributes>
        <divisions>1</divisions>
        <key><fifths>0</fifths></key>
        <time><beats>4</beats><beat-type>4</beat-type></time>
        <clef><sign>G</sign><line>2</line></clef>
      </attributes>
      <note><rest measure="yes"/><duration>4</duration><type>whole</type></note>
    </measure>
  </part>
</score-partwise>
"""

# broken file -> what its reason must say (the stage is parse for all of them)
BROKEN = {
    "broken/truncated.mxl": r"load|zip|corrupt|truncat|unreadable",
    "broken/invalid.xml": r"load|xml|well-formed|unreadable|no notes",
    "broken/empty.musicxml": r"load|empty|unreadable",
    "broken/rest_only.musicxml": r"no notes",
}


def short_krn(n: int = 3) -> list[Path]:
    """The ``n`` shortest Humdrum files of the corpus (a few seconds of music each)."""
    files = sorted((CORPORA / "humdrum-piano").rglob("*.krn"), key=lambda f: (f.stat().st_size, f.name))
    return files[:n]


def short_mxl() -> Path:
    return min((CORPORA / "asap-dev").rglob("score.mxl"), key=lambda f: (f.stat().st_size, str(f)))


def write_broken(folder: Path, good_mxl: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = good_mxl.read_bytes()
    (folder / "truncated.mxl").write_bytes(data[: len(data) // 2])
    (folder / "invalid.xml").write_text("<score-partwise><part", encoding="utf-8")
    (folder / "empty.musicxml").write_bytes(b"")
    (folder / "rest_only.musicxml").write_text(REST_ONLY, encoding="utf-8")


@pytest.fixture(scope="module")
def scores(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inputs") / "scores"
    (root / "krn").mkdir(parents=True)
    for krn in short_krn():
        shutil.copyfile(krn, root / "krn" / krn.name)
    shutil.copyfile(short_mxl(), root / "asap.mxl")
    write_broken(root / "broken", short_mxl())
    return root


@pytest.fixture(scope="module")
def folder_build(scores, tmp_path_factory):
    """The folder built with two workers. A broken file must become a failure row; if it takes the
    build down instead (a Verovio abort kills the process it runs in), every test here fails."""
    try:
        return build(tmp_path_factory.mktemp("inputs-out") / "pdmx_fusa", f"source.root={json.dumps(str(scores))}", pipeline=FOLDER_PIPELINE)
    except Exception as err:  # noqa: BLE001 - reported as the failure of every test that needs the build
        pytest.fail(f"the folder build did not end normally: {type(err).__name__}: {err}", pytrace=False)


def good_ids() -> list[str]:
    return sorted([f"krn/{krn.name}" for krn in short_krn()] + ["asap.mxl"])


def manifest(built) -> dict[str, dict]:
    rows = [json.loads(line) for line in (built.out / "failures.jsonl").read_text(encoding="utf-8").splitlines()]
    return {row["score_id"]: row for row in rows}


def test_every_file_has_an_outcome(folder_build):
    outcomes = {o.ref.score_id: o for o in folder_build.report.outcomes}
    assert sorted(outcomes) == sorted([*good_ids(), *BROKEN])
    assert sorted(i for i, o in outcomes.items() if o.failure) == sorted(BROKEN)


def test_good_scores_are_built(folder_build):
    built = {row["score_id"] for row in folder_build.all_rows()}
    assert built == set(good_ids())
    for row in folder_build.all_rows():
        assert row["source"] == "folder" and row["measures"]


@pytest.mark.parametrize("score_id", sorted(BROKEN))
def test_broken_score_is_a_failure_row(folder_build, scores, score_id):
    row = manifest(folder_build).get(score_id)
    assert row is not None, f"{score_id} is not in failures.jsonl"
    assert row["path"] == str(scores / score_id)
    assert row["stage"] == "parse"
    assert row["reason"].strip(), "empty reason"
    assert re.search(BROKEN[score_id], row["reason"], re.I), row["reason"]
    assert row["tool_versions"].get("verovio")


@pytest.mark.parametrize(
    "check", [check_validated, check_config, check_midi], ids=lambda f: f.__name__
)
def test_built_examples_keep_the_promises(folder_build, check):
    """Humdrum and MuseScore scores give examples as sound as music21's (labels included: the
    Hummel preludes are in common time, written *met(c))."""
    check(folder_build)


def test_failures_manifest_and_card(folder_build):
    rows = manifest(folder_build)
    assert sorted(rows) == sorted(BROKEN)  # one row each, nothing else
    card = (folder_build.out / "README.md").read_text(encoding="utf-8")
    assert f"{len(BROKEN)} scores were left out" in card
    assert re.search(rf"^\| parse \| {len(BROKEN)} \|$", card, re.M)


# --- the command line ------------------------------------------------------------------------------


def cli_build(*args: str) -> list[str]:
    return ["build", *args, "--set", f"render.soundfonts={json.dumps(str(SOUNDFONTS))}", "--quiet"]


def test_cli_bad_key_in_override(tmp_path, capsys):
    assert cli.main(cli_build("--set", "render.bogus=1", "--output", str(tmp_path / "out"))) == 2
    err = capsys.readouterr().err
    assert "render.bogus" in err and "<defaults>" in err
    assert not (tmp_path / "out").exists()


def test_cli_bad_key_in_pipeline_file(tmp_path, capsys):
    pipeline = tmp_path / "bad.toml"
    pipeline.write_text('[source]\nkind = "folder"\nrooot = "scores"\n', encoding="utf-8")
    assert cli.main(cli_build(str(pipeline), "--output", str(tmp_path / "out"))) == 2
    err = capsys.readouterr().err
    assert str(pipeline) in err and "source.rooot" in err
    assert cli.main(["scores", str(pipeline)]) == 2


def test_cli_only_broken_files(tmp_path, capsys):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "invalid.xml").write_text("<score-partwise><part", encoding="utf-8")
    (folder / "empty.musicxml").write_bytes(b"")
    (folder / "rest_only.musicxml").write_text(REST_ONLY, encoding="utf-8")
    out = tmp_path / "out"
    code = cli.main(cli_build(str(FOLDER_PIPELINE), "--set", f"source.root={json.dumps(str(folder))}", "--output", str(out), "--workers", "2"))
    assert code == 1
    err = capsys.readouterr().err
    assert "nothing was built" in err and "3 scores failed" in err and str(out / "failures.jsonl") in err
    rows = [json.loads(line) for line in (out / "failures.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(row["score_id"] for row in rows) == ["empty.musicxml", "invalid.xml", "rest_only.musicxml"]
    assert not list(out.glob("data/*.parquet")) and not (tmp_path / "out.partial").exists()


def test_cli_builds_a_folder(tmp_path, capsys):
    folder = tmp_path / "scores"
    folder.mkdir()
    krn = short_krn(1)[0]
    shutil.copyfile(krn, folder / krn.name)
    out = tmp_path / "out"
    args = ["--set", f"source.root={json.dumps(str(folder))}"]
    assert cli.main(["scores", str(FOLDER_PIPELINE), *args]) == 0
    assert capsys.readouterr().out.split("\t")[0] == krn.name
    assert cli.main(cli_build(str(FOLDER_PIPELINE), *args, "--output", str(out), "--workers", "1")) == 0
    printed = capsys.readouterr().out
    assert "built 1 of 1 scores" in printed and str(out) in printed
    assert list((out / "data").glob("*.parquet")) and (out / "failures.jsonl").read_text() == ""


def test_cli_output_is_taken_verbatim(tmp_path, monkeypatch):
    """``--output`` is a path, not a TOML value: a backslash or quotes in it must survive."""
    seen = []

    def run(cfg, progress):
        seen.append(cfg)
        raise cli.BuildError("stopped before building")

    monkeypatch.setattr(cli, "run", run)
    for name in ("plain", "back\\slash", "it's \"quoted\""):
        target = str(tmp_path / name)
        assert cli.main(["build", "--output", target, "--workers", "3", "--quiet"]) == 1
        assert seen[-1].output.dir == target
        assert seen[-1].run.workers == 3
