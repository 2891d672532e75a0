"""End to end: the embedded default (music21's 13 piano scores) built once, then every promise of
the dataset checked on what was written: loading, geometry, timing, splits, labels, MIDI, audio."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import build
from invariants import card_splits, check_config, check_midi, check_validated, onset_errors, soundfont_roles, validated
from pdmx_fusa.audio.midi import TICKS_PER_SECOND
from pdmx_fusa.dataset.validate.integrity import card_metadata
from pdmx_fusa.dataset.validate.onsets import TOLERANCE

# --- loading ----------------------------------------------------------------------------------------

LOAD = textwrap.dedent(
    """
    import io, json, sys
    import datasets
    import soundfile

    ds = datasets.load_dataset(sys.argv[1])
    first = next(iter(ds.values())).cast_column("audio", datasets.Audio(decode=False))[0]
    samples, rate = soundfile.read(io.BytesIO(first["audio"]["bytes"]))
    print(json.dumps({
        "rows": {name: split.num_rows for name, split in ds.items()},
        "columns": sorted(next(iter(ds.values())).column_names),
        "feature_rate": next(iter(ds.values())).features["audio"].sampling_rate,
        "rate": rate,
        "frames": len(samples),
        "image": list(first["image"].size),
        "project_modules": sorted(m for m in sys.modules if m.split(".")[0] in ("pdmx_fusa", "verovio", "fluidsynth", "music21")),
    }))
    """
)


def load_in_subprocess(name: str, cwd: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", LOAD, name], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"load_dataset({name!r}) from {cwd} failed:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_loaded(loaded: dict, built) -> None:
    splits = card_splits(built.out)
    assert list(loaded["rows"]) == list(splits), "split names differ from the card's"
    assert loaded["rows"] == splits, "row counts differ from the card's YAML"
    assert loaded["rows"] == {name: len(rows) for name, rows in built.rows.items()}
    assert loaded["project_modules"] == []  # the dataset loads without this package
    assert {"image", "audio", "midi", "measures", "systems", "score_id", "split"} <= set(loaded["columns"])
    assert loaded["feature_rate"] == loaded["rate"] == built.cfg.render.sample_rate
    assert loaded["frames"] > 0 and loaded["image"][0] == built.cfg.engrave.width_px


def test_load_bare_name(default_build):
    assert default_build.out.name == "pdmx_fusa"
    check_loaded(load_in_subprocess("pdmx_fusa", default_build.out.parent), default_build)


def test_load_absolute_path(default_build, tmp_path):
    check_loaded(load_in_subprocess(str(default_build.out.resolve()), tmp_path), default_build)


def test_card_splits(default_build):
    meta = card_metadata(default_build.out)
    (config,) = meta["configs"]
    declared = [f["split"] for f in config["data_files"]]
    assert declared == list(card_splits(default_build.out)) == list(default_build.rows)
    assert set(declared) <= {"train", "validation", "test"} and "train" in declared
    for f in config["data_files"]:
        assert list(default_build.out.glob(f["path"])), f"{f['path']} matches no shard"


# --- pdmx-fusa validate: integrity, boxes against the raster, onsets and chroma against the audio ----


def test_validate_passes(default_build):
    report = check_validated(default_build)
    figures = {check.name: check.figures for check in report.checks}
    assert figures["structure"]["measures"] > 500  # boxes nested inside the page, times contiguous
    assert figures["staff_lines"]["edges"] > 1000 and figures["staff_lines"]["median_px"] <= 1.0


def test_config_promises(default_build):
    check_config(default_build)


def test_measures_follow_the_score_timing(default_build):
    """Each example's measures are the score's performed measures (repeats unfolded) on one page,
    timed from the visit's start and divided by the tempo ratio: re-parse and retime every score
    (as ``pdmx-fusa timeline`` does) and compare."""
    from pdmx_fusa.config import ParseConfig
    from pdmx_fusa.sources import list_scores
    from pdmx_fusa.stages.timeline_view import performed_score

    refs = {ref.score_id: ref for ref in list_scores(default_build.cfg.source)}
    rows = default_build.all_rows()
    for score_id in sorted({row["score_id"] for row in rows}):
        score = performed_score(refs[score_id], ParseConfig())
        page_of = {m.id: m.page for m in score.measures}
        visits: list[tuple[int, list]] = []  # (page, performed measures), in played order
        for performed in score.performance:
            page = page_of[performed.engraved_id]
            if visits and visits[-1][0] == page:
                visits[-1][1].append(performed)
            else:
                visits.append((page, [performed]))
        by_key = {}
        for page, measures in visits:
            by_key[(page + 1, sum(p == page for p, _ in by_key.values()))] = (page, measures)
        mine = [row for row in rows if row["score_id"] == score_id and not row["expressive"]]  # tests/test_expressive.py: the others
        assert len(mine) == len(visits), score_id  # one constant rendition per visit
        for row in mine:
            _, measures = by_key[(row["page"], row["visit"])]
            ratio, start = row["tempo_ratio"], measures[0].onset
            assert [m["engraved_id"] for m in row["measures"]] == [p.engraved_id for p in measures]
            # on the passage MIDI's tick grid, as its notes are: within half a tick
            grid = 0.5 / TICKS_PER_SECOND + 1e-5
            assert [m["onset"] for m in row["measures"]] == pytest.approx([(p.onset - start) / ratio for p in measures], abs=grid)
            assert row["measures"][-1]["offset"] == pytest.approx((measures[-1].offset - start) / ratio, abs=grid)
            assert row["duration"] == pytest.approx(
                (measures[-1].offset - start) / ratio + default_build.cfg.render.release_tail_s, abs=1e-3
            )
    assert len({row["tempo_ratio"] for row in rows}) > 1, "the default build should use more than one tempo ratio"


# --- splits -----------------------------------------------------------------------------------------


def test_every_note_begins_inside_its_measure(default_build):
    """docs/dataset.md: each note's onset lies in its measure, exactly (no tolerance), in every
    rendition: the measure times are on the MIDI's tick grid, as the note times are."""
    outside = [
        (row["example_id"], note["pitch"], note["onset"], row["measures"][note["measure"]]["onset"])
        for row in default_build.all_rows()
        for note in row["notes"]
        if not row["measures"][note["measure"]]["onset"] <= note["onset"] < row["measures"][note["measure"]]["offset"]
    ]
    assert not outside, outside[:5]


def test_splits(default_build):
    assert validated(default_build.out).check("splits").passed
    assert len({row["score_id"] for row in default_build.all_rows()}) == 13
    roles = soundfont_roles()
    assert set(roles.values()) == {"train", "test"}
    train = {row["soundfont"] for row in default_build.rows["train"]}
    assert len(train) > 1, "the training split should hear more than one piano"
    assert default_build.rows.get("test"), "the default build should have a test split"


# --- labels and counts ------------------------------------------------------------------------------


def test_labels(default_build):
    assert validated(default_build.out).check("structure").passed  # labels in range among the rest
    for row in default_build.all_rows():
        assert row["source"] == "embedded" and row["score_id"].startswith("music21/")
    keys = {row["score_id"]: row["key_fifths"] for row in default_build.all_rows() if row["page"] == 1}
    # spot checks against the scores themselves
    assert keys["music21/joplin/maple_leaf_rag.mxl"] == -4  # A-flat major
    assert keys["music21/cpebach/h186.mxl"] == 3  # A major
    assert keys["music21/bach/bwv846.mxl"] == 0  # C major
    meters = {row["score_id"]: row["meter"] for row in default_build.all_rows()}
    assert meters["music21/joplin/maple_leaf_rag.mxl"] == "2/4"
    assert meters["music21/schumann_clara/polonaise_op1n1.mxl"] == "3/4"


def test_card_counts_match_shards(default_build):
    assert validated(default_build.out).check("card_counts").passed
    assert sum(s.scores for s in default_build.report.stats.values()) == 13


def test_no_failures(default_build):
    manifest = default_build.out / "failures.jsonl"
    assert manifest.is_file() and manifest.read_text() == ""
    assert default_build.report.failures == []
    assert not default_build.out.with_name(default_build.out.name + ".work").exists()
    assert not default_build.out.with_name(default_build.out.name + ".partial").exists()


# --- midi ---------------------------------------------------------------------------------------------


def test_midi_column(default_build):
    check_midi(default_build)


# --- audio onsets ------------------------------------------------------------------------------------


def test_audio_onsets_match_measure_onsets(default_build, capsys):
    figures = validated(default_build.out).check("measure_onsets").figures
    measures = validated(default_build.out).check("structure").figures["measures"]
    assert figures["onsets"] >= 0.5 * measures, f"only {figures['onsets']} of {measures} measures begin with a note-on"
    with capsys.disabled():
        print(f"\naudio onsets: {figures['within_30ms']:.1%} of {figures['onsets']} measures within 30 ms, "
              f"median error {figures['median_ms']:+.1f} ms")
    assert figures["within_30ms"] >= 0.95 and abs(figures["median_ms"]) <= 10


@pytest.mark.parametrize("shift", [0.05, -0.05])
def test_onset_detector_rejects_shifted_audio(default_build, shift):
    """The detector is not so lenient that audio 50 ms off the measures would pass."""
    errors, _ = onset_errors(default_build.all_rows(), shift)
    assert (np.abs(errors) <= TOLERANCE).mean() < 0.5


# --- determinism -------------------------------------------------------------------------------------


def digests(out: Path) -> dict[str, str]:
    files = [*sorted((out / "data").glob("*.parquet")), out / "README.md", out / "failures.jsonl"]
    return {f.relative_to(out).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def test_deterministic_across_workers(default_build, tmp_path_factory):
    root = tmp_path_factory.mktemp("determinism")
    one = build(root / "one", "source.limit=3", "run.workers=1")
    two = build(root / "two", "source.limit=3", "run.workers=2")
    assert digests(one.out) == digests(two.out)
    assert any(name.endswith(".parquet") for name in digests(one.out))
    # the same scores give the same rows as in the full build: a score's examples do not depend on
    # which other scores were built with it
    ids = {row["score_id"] for row in one.all_rows()}
    assert len(ids) == 3
    for split, rows in one.rows.items():
        full = [row for row in default_build.rows[split] if row["score_id"] in ids]
        assert rows == full, split
