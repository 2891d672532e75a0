"""What the tests check of a build beyond :func:`pdmx_fusa.dataset.validate` (which checks a folder
on its own: schema, checksums, card, splits, boxes, times, onsets, chroma): the passage MIDI
against the ``notes`` column (needs mido, a test dependency), and the build against its
configuration and report (soundfont roles, tempo ratios, release tail, counts).

Each ``check_*`` takes a finished build (``conftest.Built``) and raises ``AssertionError`` naming
the example that breaks a promise of the dataset.
"""

from __future__ import annotations

import functools
import io
import re
from pathlib import Path

import mido
import numpy as np
import soundfile

from conftest import SOUNDFONTS
from pdmx_fusa.dataset.validate import Report, validate
from pdmx_fusa.dataset.validate.integrity import card_metadata
from pdmx_fusa.dataset.validate.onsets import Flux, chord_onsets, measure_onsets, struck


@functools.cache
def validated(out: Path) -> Report:
    """``validate(out)``, computed once per session for each folder."""
    return validate(out)


def check_validated(built) -> Report:
    """The build passes every check of ``pdmx-fusa validate``."""
    report = validated(built.out)
    assert report.passed, report.text()
    return report


def card_splits(out: Path) -> dict[str, int]:
    """Split name -> number of examples, as the card's ``dataset_info`` declares them."""
    return {s["name"]: s["num_examples"] for s in card_metadata(out)["dataset_info"]["splits"]}


def audio_seconds(row: dict) -> float:
    info = soundfile.info(io.BytesIO(row["audio"]["bytes"]))
    return info.frames / info.samplerate


def midi_notes(midi: bytes) -> list[tuple[float, float, int, int, int]]:
    """Every note of a passage MIDI file as (onset, offset, key, velocity, channel) in seconds,
    by onset then key; a note-off ends the earliest open note of its channel and key."""
    now, notes, open_notes = 0.0, [], {}
    for msg in mido.MidiFile(file=io.BytesIO(midi)):
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes.setdefault((msg.channel, msg.note), []).append((now, msg.velocity))
        elif msg.type in ("note_on", "note_off") and open_notes.get((msg.channel, msg.note)):
            onset, velocity = open_notes[(msg.channel, msg.note)].pop(0)
            notes.append((onset, now, msg.note, velocity, msg.channel))
    return sorted(notes, key=lambda n: (n[0], n[2]))


def soundfont_roles() -> dict[str, str]:
    """name -> role, read from soundfonts.txt independently of the package's parser."""
    roles = {}
    for line in SOUNDFONTS.read_text(encoding="utf-8").splitlines():
        fields = [f for f in line.split("#", 1)[0].split() if "=" not in f]  # key=value options (licence=) follow the role
        if fields:
            roles[fields[0]] = fields[-1]
    return roles


# --- onsets with the audio or the labels moved (calibration of the detector) ------------------------


def onset_errors(rows: list[dict], shift: float = 0.0, notes: bool = False, moved: float = 0.0) -> tuple[np.ndarray, int]:
    """Detected minus labelled onset for every measure that begins with a note (``notes``: every
    note that starts alone or with a chord) of ``rows``, as validate measures them, and the number
    of measures (notes) seen. ``shift`` > 0 delays the audio, < 0 advances it; ``moved`` is added
    to the labels instead."""
    errors, seen = [], 0
    for row in rows:
        samples, rate = soundfile.read(io.BytesIO(row["audio"]["bytes"]), dtype="float64")
        if shift > 0:
            samples = np.concatenate([np.zeros(round(shift * rate)), samples])
        elif shift < 0:
            samples = samples[round(-shift * rate):]
        ons = np.array([n["onset"] for n in row["notes"]], dtype=float) + moved
        starts = np.array([m["onset"] for m in row["measures"]], dtype=float) + moved
        targets = chord_onsets(ons) if notes else measure_onsets(starts, ons)
        seen += len(ons) if notes else len(starts)
        errors.append(Flux(samples, rate).errors(targets, struck(ons)))
    return np.concatenate(errors), seen


# --- checks against the MIDI and the configuration ---------------------------------------------------


def check_config(built) -> None:
    """Against the build's configuration and report: test audio from test soundfonts only, train
    and validation from training ones; tempo ratios as configured; the audio as long as the passage
    plus at most the release tail; the card's counts those of the report, in its table too."""
    roles = soundfont_roles()
    render = built.cfg.render
    for split, rows in built.rows.items():
        wanted = "test" if split == "test" else "train"
        used = {row["soundfont"] for row in rows}
        assert used and {roles[name] for name in used} == {wanted}, (split, used)
        allowed = render.train_tempo_ratios if split == "train" else render.eval_tempo_ratios
        assert {row["tempo_ratio"] for row in rows} <= set(allowed), split
        for row in rows:
            last, duration = row["measures"][-1]["offset"], audio_seconds(row)
            assert duration <= last + render.release_tail_s + 1 / render.sample_rate + 1e-4, (row["score_id"], last, duration)
    declared = card_splits(built.out)
    assert declared == {name: len(rows) for name, rows in built.rows.items()}
    assert declared == {name: s.examples for name, s in built.report.stats.items()}
    text = (built.out / "README.md").read_text(encoding="utf-8")
    for name, count in declared.items():
        assert re.search(rf"^\| {name} \| \d+ \| \d+ \| {count} \|", text, re.M), name


def check_midi(built) -> None:
    """The passage MIDI parses, has notes, and ends where the visit ends (notes are cut there)."""
    for row in built.all_rows():
        where = (row["score_id"], row["page"], row["visit"])
        midi = mido.MidiFile(file=io.BytesIO(row["midi"]))
        notes = sum(msg.type == "note_on" and msg.velocity > 0 for msg in midi)
        assert notes > 0, where
        assert midi.length <= audio_seconds(row), where
        # two ticks of rounding on the 1/1920 s grid
        assert midi.length <= row["measures"][-1]["offset"] + 2 / 1920 + 1e-4, where
        offs = sum(msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0) for msg in midi)
        assert offs == notes, where


def check_notes(built) -> int:
    """Every row's ``notes`` are its passage MIDI's notes, one to one (key, velocity, onset and
    offset within a tick of the 1/1920 s grid). Returns the notes checked."""
    tick = 1 / 1920 + 1e-4  # the grid, plus float32 seconds
    checked = 0
    for row in built.all_rows():
        where = (row["score_id"], row["page"], row["visit"], row["soundfont"], row["tempo_ratio"])
        notes = row["notes"]
        midi = midi_notes(row["midi"])
        assert len(notes) == len(midi), (where, len(notes), len(midi))
        mine = sorted(notes, key=lambda n: (round(n["onset"] * 1920), n["pitch"]))
        for n, (on, off, key, velocity, _) in zip(mine, midi):
            assert (n["pitch"], n["velocity"]) == (key, velocity), (where, n, key, velocity)
            assert abs(n["onset"] - on) <= tick, (where, n, on)
            assert abs(max(n["offset"], n["onset"] + 1 / 1920) - off) <= tick, (where, n, off)  # a note lasts a tick at least
        checked += len(notes)
    return checked
