"""``pdmx-fusa validate``: passes on the embedded default, fails loudly, for the right reason, on
tampered copies of it (rewritten with pyarrow, ``SHA256SUMS`` recomputed so that only the content
betrays them), and says what is wrong with a folder that is not a dataset."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from invariants import validated
from pdmx_fusa import cli
from pdmx_fusa.dataset.validate import NotADataset, validate

# --- tampering ------------------------------------------------------------------------------------------


def rewrite(out: Path, split: str, change) -> None:
    """Apply ``change(rows)`` (in place) to the rows of ``split``'s shard, rewrite the shard with its
    schema, and recompute every line of ``SHA256SUMS``."""
    (shard,) = sorted((out / "data").glob(f"{split}-*.parquet"))
    table = pq.read_table(shard)
    rows = table.to_pylist()
    change(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), shard)
    recompute_checksums(out)


def recompute_checksums(out: Path) -> None:
    lines = []
    for line in (out / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        name = line.split("  ", 1)[1]
        lines.append(f"{hashlib.sha256((out / name).read_bytes()).hexdigest()}  {name}\n")
    (out / "SHA256SUMS").write_text("".join(lines), encoding="utf-8")


def shift_by_one_measure(row: dict) -> None:
    """Every label one measure early: the times of all measures and notes move back by the first
    measure's length, the first measure and its notes (now before 0) are dropped and the last
    measure lasts to where the passage ended. Every structural promise still holds (onsets rise
    from 0, measures contiguous, notes inside their measures), and most measure and note onsets
    still fall on onsets in the audio."""
    if len(row["measures"]) < 3:
        return
    shift = row["measures"][1]["onset"]
    end = row["measures"][-1]["offset"]
    measures = row["measures"][1:]
    for m in measures:
        m["onset"], m["offset"] = m["onset"] - shift, m["offset"] - shift
    measures[-1]["offset"] = end
    notes = [n for n in row["notes"] if n["measure"] > 0]
    for n in notes:
        n["measure"] -= 1
        n["onset"], n["offset"] = n["onset"] - shift, n["offset"] - shift
    row["measures"], row["notes"] = measures, notes


def swap_two_measures_boxes(rows: list[dict]) -> tuple[str, str]:
    """In the first row that has two such measures, swap the boxes (measure and staff boxes) of two
    measures of one system (different engraved measures) that both have noteheads: every box still
    lies on staff lines and barlines. Returns the two measure numbers."""
    for row in rows:
        measures = row["measures"]
        with_heads = sorted({n["measure"] for n in row["notes"] if n["box"] is not None})
        pairs = [(i, j) for i in with_heads for j in with_heads if i < j and measures[i]["system"] == measures[j]["system"]
                 and measures[i]["engraved_id"] != measures[j]["engraved_id"]]
        if pairs:
            a, b = (measures[k] for k in pairs[-1])
            for key in ("box", "staff_boxes"):
                a[key], b[key] = b[key], a[key]
            return a["number"], b["number"]
    raise AssertionError("no row has two measures with noteheads on one system")


@pytest.fixture
def copy(default_build, tmp_path) -> Path:
    out = tmp_path / "pdmx_fusa"
    shutil.copytree(default_build.out, out)
    return out


# --- the untouched dataset --------------------------------------------------------------------------------


def test_passes_on_the_default(default_build, capsys):
    report = validated(default_build.out)
    with capsys.disabled():
        print("\n" + report.text())
    assert report.passed, report.text()
    figures = {check.name: check.figures for check in report.checks}
    assert figures["structure"]["measures"] > 500 and figures["structure"]["notes"] > 10_000
    assert figures["staff_lines"]["median_px"] <= 1.0 and figures["barlines"]["median_px"] <= 1.0
    assert figures["noteheads"]["boxes"] > 5000 and figures["noteheads"]["median_px"] <= 1.0
    assert figures["note_onsets"]["within_30ms"] >= 0.95 and abs(figures["note_onsets"]["median_ms"]) <= 10
    assert figures["measure_onsets"]["onsets"] >= 0.5 * figures["structure"]["measures"]
    assert figures["chroma"]["flagged_share"] < 0.01 and figures["chroma"]["own_corr_median"] > 0.8


# --- tampered copies --------------------------------------------------------------------------------------


def test_times_shifted_by_one_measure_fail(copy):
    rewrite(copy, "test", lambda rows: [shift_by_one_measure(row) for row in rows])
    report = validate(copy, split="test")
    assert "chroma" in report.failed(), report.text()
    assert not any(check.section in ("integrity", "image") for check in report.checks if not check.passed)
    assert report.check("chroma").figures["flagged_share"] > 0.2


def test_swapped_boxes_fail(copy):
    swapped = []
    rewrite(copy, "test", lambda rows: swapped.append(swap_two_measures_boxes(rows)))
    report = validate(copy, split="test")
    assert report.failed() == ["note_placement"], report.text()  # the boxes still lie on lines and barlines
    (first, second), check = swapped[0], report.check("note_placement")
    assert all(f"of measure {first}:" in p or f"of measure {second}:" in p for p in check.problems)
    assert check.figures["misplaced"] >= 2


@pytest.mark.parametrize(("meter", "passes"), [("", True), ("three", False)])
def test_a_page_without_a_time_signature_passes(copy, meter, passes):
    """A score that gives no time signature (Hummel's preludes op. 67 in **kern) labels its pages
    with an empty meter, which is in range; anything but n/m or empty is not."""
    rewrite(copy, "test", lambda rows: rows[0].update(meter=meter))
    report = validate(copy, split="test")
    assert report.check("structure").passed == passes, report.text()


def test_integrity_is_exact(copy):
    shard = next((copy / "data").glob("test-*.parquet"))
    shard.write_bytes(shard.read_bytes()[:-1] + b"\0")  # one byte, checksums not recomputed
    card = copy / "README.md"
    card.write_text(re.sub(r"num_examples: (\d+)", lambda m: f"num_examples: {int(m[1]) + 1}", card.read_text(encoding="utf-8"), count=1),
                    encoding="utf-8")
    report = validate(copy, limit=0)
    assert not report.check("checksums").passed and not report.check("card_counts").passed
    assert any("test-00000-of-00001.parquet: sha256 differs" in p for p in report.check("checksums").problems)


def test_a_piece_in_two_splits_fails(copy):
    (row,) = pq.read_table(next((copy / "data").glob("validation-*.parquet"))).slice(0, 1).to_pylist()
    rewrite(copy, "test", lambda rows: rows[0].update({k: row[k] for k in ("piece_id", "composer", "title") if k in row}))
    report = validate(copy, limit=0)
    assert not report.check("splits").passed and "is in ['test', 'validation']" in report.check("splits").problems[0]


# --- the command ------------------------------------------------------------------------------------------


def test_command_json_and_exit_status(copy, capsys):
    assert cli.main(["validate", str(copy), "--json", "--split", "validation", "--limit", "2"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["passed"] and document["checks"][0]["name"] == "schema"
    rewrite(copy, "validation", lambda rows: [shift_by_one_measure(row) for row in rows])
    assert cli.main(["validate", str(copy), "--split", "validation"]) == 1
    assert "FAIL content   chroma" in capsys.readouterr().out


def test_not_a_dataset(tmp_path, capsys):
    with pytest.raises(NotADataset, match="no data/\\*.parquet"):
        validate(tmp_path)
    assert cli.main(["validate", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "nowhere") in err[0] and "build/pdmx_fusa" in err[0]
