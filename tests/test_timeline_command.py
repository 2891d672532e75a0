"""``pdmx-fusa timeline``: the performed sequence it prints is the one the built rows carry."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest

from conftest import REPO, build
from pdmx_fusa.cli import main
from pdmx_fusa.sources.embedded import corpus_dir

FOLDER_PIPELINE = REPO / "pipelines" / "folder.toml"


def visits_of(measures: list[dict]) -> dict[tuple[int, int], list[dict]]:
    """The timeline's measures cut into page visits (maximal runs on one page), keyed like rows: (page, visit)."""
    runs: list[list[dict]] = []
    for m in measures:
        if runs and runs[-1][0]["page"] == m["page"]:
            runs[-1].append(m)
        else:
            runs.append([m])
    seen: Counter = Counter()
    out = {}
    for run in runs:
        out[(run[0]["page"], seen[run[0]["page"]])] = run
        seen[run[0]["page"]] += 1
    return out


def test_timeline_json_is_what_the_rows_carry(tmp_path, capsys):
    source = corpus_dir() / "joplin" / "maple_leaf_rag.mxl"
    if not source.is_file():
        pytest.skip("needs music21's corpus")
    scores = tmp_path / "scores"
    scores.mkdir()
    shutil.copyfile(source, scores / "maple_leaf_rag.mxl")

    assert main(["timeline", "--json", str(scores / "maple_leaf_rag.mxl")]) == 0
    document = json.loads(capsys.readouterr().out)
    measures, notes = document["measures"], document["notes"]
    assert [m["index"] for m in measures] == list(range(len(measures))) and len(measures) > 100
    assert all(a["offset"] == b["onset"] for a, b in zip(measures, measures[1:]))
    assert document["score"]["duration"] == measures[-1]["offset"]

    built = build(tmp_path / "out", f"source.root={json.dumps(str(scores))}", "render.sample_rate=8000", "run.workers=1",
                  pipeline=FOLDER_PIPELINE)
    rows = built.all_rows()
    expected = visits_of(measures)
    assert {(row["page"], row["visit"]) for row in rows} == set(expected)
    for row in rows:
        visit = expected[(row["page"], row["visit"])]
        ratio, start = row["tempo_ratio"], visit[0]["onset"]
        assert [m["engraved_id"] for m in row["measures"]] == [m["engraved_id"] for m in visit]
        assert [m["number"] for m in row["measures"]] == [m["number"] for m in visit]
        if row["expressive"]:
            continue  # a performance of its own (tests/test_expressive.py): the same measures, other times
        for got, want in zip(row["measures"], visit):
            assert got["onset"] * ratio == pytest.approx(want["onset"] - start, abs=1e-3)
            assert got["offset"] * ratio == pytest.approx(want["offset"] - start, abs=1e-3)
        # the notes that begin in the visit, at the same times
        first = visit[0]["index"]
        played = sorted((n["pitch"], round(n["onset"] - start, 2), n["measure"] - first)
                        for n in notes if first <= n["measure"] <= visit[-1]["index"])
        carried = sorted((n["pitch"], round(n["onset"] * ratio, 2), n["measure"]) for n in row["notes"])
        assert carried == played


def test_timeline_text_and_notes(capsys):
    score = REPO / "tests" / "fixtures" / "parse" / "slow_tempo.musicxml"
    assert main(["timeline", "--notes", str(score)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("slow_tempo.musicxml:") and "3 performed measures" in out[0]
    assert out[2].split() == ["#", "number", "engraved", "id", "page", "onset", "offset"]
    assert [line.split()[-2:] for line in out[3:6]] == [["0.000", "2.000"], ["2.000", "122.000"], ["122.000", "124.000"]]
    assert out[7].split()[:5] == ["pitch", "onset", "offset", "velocity", "measure"]
    assert len(out) == 8 + 15  # a line per note


@pytest.mark.parametrize("path, why", [("missing.mxl", "no such file"), ("notes.txt", "not named like a score"), ("folder.mxl", "a folder")])
def test_timeline_bad_path_is_one_line_and_status_2(tmp_path, capsys, path, why):
    (tmp_path / "notes.txt").write_text("not a score", encoding="utf-8")
    (tmp_path / "folder.mxl").mkdir()
    assert main(["timeline", str(tmp_path / path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and why in captured.err


def test_timeline_rejected_score_is_status_1(capsys):
    score = REPO / "tests" / "fixtures" / "parse" / "four_parts.musicxml"
    assert main(["timeline", str(score)]) == 1
    assert "rejected: not piano-like: 4 parts" in capsys.readouterr().err
    assert main(["timeline", "--set", "parse.max_parts=4", "--json", str(score)]) == 0
    assert len(json.loads(capsys.readouterr().out)["measures"]) == 2
