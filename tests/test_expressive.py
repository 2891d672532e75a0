"""Expressive renditions and audio that ends well: the rows' times are the rendered MIDI's, the
audio's onsets are where the rows say, rebuilds are byte-identical, passages fade out, and the
dataset loads with ``Audio(decode=False)`` plus soundfile (no torchcodec)."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
import soundfile

from conftest import REPO, build
from pdmx_fusa.audio.midi import read_midi
from pdmx_fusa.config import ConfigError, load_config
from pdmx_fusa.dataset.validate.onsets import Flux, measure_onsets, struck
from pdmx_fusa.records import Visit
from pdmx_fusa.stages.plan import plan
from test_dynamics import FIXTURES, debian_fonts

EVERY_SPLIT = 'render.expressive.splits=["train", "validation", "test"]'


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The dynamics fixtures and two of music21's scores (real music: chords, pedal-less, fermatas),
    each visit played constant and expressive, built twice."""
    root = tmp_path_factory.mktemp("scores")
    for fixture in FIXTURES.glob("*.musicxml"):
        (root / fixture.name).write_bytes(fixture.read_bytes())
    pytest.importorskip("music21")
    from pdmx_fusa.sources.embedded import list_scores

    for ref in list_scores()[:2]:
        (root / ref.score_id.replace("/", "_")).write_bytes(open(ref.path, "rb").read())
    fonts = debian_fonts(tmp_path_factory.mktemp("fonts"))
    overrides = [f"source.root={json.dumps(str(root))}", "source.kind=folder", "run.workers=1", EVERY_SPLIT,
                 f"render.soundfonts={json.dumps(str(fonts))}"]
    first = build(tmp_path_factory.mktemp("a") / "ds", *overrides)
    again = build(tmp_path_factory.mktemp("b") / "ds", *overrides)
    return first, again


def test_every_visit_has_an_expressive_rendition(built):
    first, _ = built
    rows = first.all_rows()
    assert len({row["score_id"] for row in rows}) == 5  # every score built
    visits: dict[tuple, set[bool]] = {}
    for row in rows:
        visits.setdefault((row["score_id"], row["page"], row["visit"]), set()).add(row["expressive"])
        assert row["example_id"].endswith(":expressive") == row["expressive"]
    assert all(kinds == {False, True} for kinds in visits.values())


def test_rows_carry_the_rendered_midi_times(built):
    """Every note's onset, offset and velocity are its MIDI note's (to the millisecond); every
    measure that starts with a note starts with that note's MIDI note-on."""
    for row in built[0].all_rows():
        midi = sorted(read_midi(row["midi"]).notes, key=lambda n: (round(n.onset, 4), n.key))
        notes = sorted(row["notes"], key=lambda n: (round(n["onset"], 4), n["pitch"]))
        assert [n["pitch"] for n in notes] == [n.key for n in midi]
        assert max(abs(a["onset"] - b.onset) for a, b in zip(notes, midi)) < 0.001
        assert max(abs(a["offset"] - b.offset) for a, b in zip(notes, midi)) < 0.001
        assert [n["velocity"] for n in notes] == [n.velocity for n in midi]
        for i, measure in enumerate(row["measures"]):
            inside = [n["onset"] for n in row["notes"] if n["measure"] == i]
            assert all(measure["onset"] - 0.001 <= t < measure["offset"] for t in inside)
        assert row["measures"][0]["onset"] == 0.0


def test_expressive_timing_varies_and_slows_at_phrase_ends(built):
    tempos, final = [], []
    for row in built[0].all_rows():
        tempo = [m["tempo"] for m in row["measures"]]
        if not row["expressive"]:
            assert tempo == pytest.approx([row["tempo_ratio"]] * len(tempo))
            continue
        tempos += [t / row["tempo_ratio"] for t in tempo]
        if row["score_id"].endswith("musicxml") and len(tempo) == 8:  # eight-measure fixtures: phrases of 4
            final.append((tempo[3] < tempo[2], tempo[7] < tempo[6]))
    assert 0.02 < np.std(np.log(tempos)) < 0.25 and 0.95 < np.median(tempos) < 1.05
    assert 0.3 < min(tempos) and max(tempos) < 1.3  # the slowest: a final ritardando over a fermata
    assert final and all(a and b for a, b in final)


def test_expressive_onsets_are_heard_where_the_rows_say(built):
    """Onsets detected in the audio match 95 % of the measures that start with a note within 30 ms
    (the detector of ``pdmx-fusa validate``, each measure searched up to the next chord struck)."""
    errors = []
    for row in built[0].all_rows():
        if not row["expressive"]:
            continue
        audio, rate = soundfile.read(io.BytesIO(row["audio"]["bytes"]))
        onsets = np.array([n["onset"] for n in row["notes"]])
        errors.append(Flux(audio, rate).errors(measure_onsets([m["onset"] for m in row["measures"]], onsets), struck(onsets)))
    errors = np.abs(np.concatenate(errors))
    assert len(errors) > 40 and (errors <= 0.030).mean() >= 0.95


def test_rebuilds_are_byte_identical(built):
    first, again = built
    digest = [
        {p.relative_to(b.out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((b.out / "data").glob("*.parquet"))}
        for b in (first, again)
    ]
    assert digest[0] and digest[0] == digest[1]


def test_passages_fade_out(built):
    """The last 10 ms of every passage are below -50 dBFS (a raised-cosine fade over its last 100 ms)."""
    for row in built[0].all_rows():
        audio, rate = soundfile.read(io.BytesIO(row["audio"]["bytes"]))
        assert 20 * np.log10(np.abs(audio[-rate // 100 :]).max() + 1e-9) < -50
        assert np.abs(audio).max() == pytest.approx(10 ** (-1 / 20), abs=1e-3)  # peak-normalised to -1 dBFS


def test_loads_with_audio_decode_false_and_soundfile(built):
    """README's loading recipe, on machines without torchcodec: the cast, then soundfile."""
    from datasets import Audio, load_dataset

    ds = load_dataset(str(built[0].out))
    ds = ds.cast_column("audio", Audio(decode=False))
    example = ds["train"][0]
    samples, rate = soundfile.read(io.BytesIO(example["audio"]["bytes"]))
    assert rate == 22050 and len(samples) / rate == pytest.approx(example["duration"], abs=1e-3)


def test_plan_and_configuration():
    cfg = load_config(None, ["render.expressive.per_visit=1"])
    fonts = [type("Font", (), {"name": n, "role": r})() for n, r in (("a", "train"), ("b", "train"), ("t", "test"))]
    visits = tuple(Visit(p, 0, (p,), float(p), p + 1.0) for p in range(3))
    train = plan("x", visits, "train", fonts, cfg.render)
    assert [r.expressive for _, r in train] == [False, True] * 3
    assert all(not r.expressive for _, r in plan("x", visits, "test", fonts, cfg.render))
    off = load_config(None, ["render.expressive.per_visit=0"])
    assert [(v, r) for v, r in plan("x", visits, "train", fonts, off.render)] == [(v, r) for v, r in train if not r.expressive]
    with pytest.raises(ConfigError, match="render.expressive.ritardando"):
        load_config(None, ["render.expressive.ritardando=0.9"])
    with pytest.raises(ConfigError, match="render.fade_s"):
        load_config(None, ["render.fade_s=2.0"])
    assert (REPO / "pipelines" / "default.toml").read_text().count("[render.expressive]") == 1


@pytest.mark.slow
def test_embedded_default_rebuilds_byte_identical(default_build, tmp_path):
    """The embedded default, expressive renditions included, built again with one worker: the same shards."""
    again = build(tmp_path / "pdmx_fusa", "run.workers=1")
    shards = [sorted((b.out / "data").glob("*.parquet")) for b in (default_build, again)]
    assert [p.name for p in shards[0]] == [p.name for p in shards[1]]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(*shards))
    assert any(row["expressive"] for row in again.all_rows())
