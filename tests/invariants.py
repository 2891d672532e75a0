"""Checks every build must pass, shared by the default build's tests and the slow corpus builds.

Each ``check_*`` takes a finished build (``conftest.Built``) and raises ``AssertionError`` naming
the example that breaks a promise of the dataset.
"""

from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path

import mido
import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile
import yaml
from PIL import Image

from conftest import SOUNDFONTS

# --- helpers ------------------------------------------------------------------------------------------


def card_meta(out: Path) -> dict:
    """The YAML front matter of the dataset card."""
    text = (out / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    front, _, _ = text[4:].partition("\n---\n")
    return yaml.safe_load(front)


def card_splits(out: Path) -> dict[str, int]:
    """Split name -> number of examples, as the card's ``dataset_info`` declares them."""
    info = card_meta(out)["dataset_info"]
    return {s["name"]: s["num_examples"] for s in info["splits"]}


def shard_rows(out: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for shard in (out / "data").glob("*.parquet"):
        split = shard.name.split("-")[0]
        counts[split] = counts.get(split, 0) + pq.ParquetFile(shard).metadata.num_rows
    return counts


def audio_frames(row: dict) -> tuple[int, int]:
    info = soundfile.info(io.BytesIO(row["audio"]["bytes"]))
    return info.frames, info.samplerate


def audio_seconds(row: dict) -> float:
    frames, rate = audio_frames(row)
    return frames / rate


def note_ons(midi: bytes) -> np.ndarray:
    """Seconds of every note-on (velocity > 0) of a passage MIDI file."""
    return np.unique(np.array([on for on, _, _, _, _ in midi_notes(midi)]))


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
        fields = line.split("#", 1)[0].split()
        if fields:
            roles[fields[0]] = fields[-1]
    return roles


def normalised_piece(composer: str, title: str) -> str:
    def norm(text: str) -> str:
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
        return " ".join(re.findall(r"[a-z0-9]+", text))

    return f"{norm(composer)}|{norm(title)}"


# --- onset detection -------------------------------------------------------------------------------
#
# Spectral flux: frames of 1024 samples (Hann) centred every 2 ms, log(1 + 10 |X|), the rise summed
# over bins across 8 ms. Around a measure onset the search window is +-50 ms, cut so that it does not
# reach back to the previous note-on of the passage MIDI (+15 ms) nor on past the next one; the
# detected onset is the first peak of the flux (rising into it, falling after) above half the
# window's largest value. Calibrated on the default build (100 % within 30 ms, median error -2 ms;
# FluidSynth starts a note 2-5 ms after its event) and on the asap-dev scores (99.0 %); with the
# audio shifted by +-50 ms only 2-10 % pass, which test_onset_detector_rejects_shifted_audio keeps
# checking. Shorter frames miss soft bass notes under released chords; longer ones blur by 50 ms.

HOP = 0.002
FRAME = 1024
LAG = 4  # frames: 8 ms
COMPRESSION = 10.0
WINDOW = 0.05
TOLERANCE = 0.030


def flux_around(samples: np.ndarray, rate: int, centre: float, span: float = 0.08) -> tuple[np.ndarray, np.ndarray]:
    times = centre + np.arange(-span, span + 1e-9, HOP)
    pad = FRAME + int(0.2 * rate)
    padded = np.concatenate([np.zeros(pad), samples, np.zeros(pad)])
    starts = np.round(times * rate).astype(int) + pad - FRAME // 2
    frames = np.stack([padded[s: s + FRAME] for s in starts]) * np.hanning(FRAME)
    magnitude = np.log1p(COMPRESSION * np.abs(np.fft.rfft(frames, axis=1)))
    flux = np.zeros(len(times))
    flux[LAG:] = np.maximum(magnitude[LAG:] - magnitude[:-LAG], 0).sum(axis=1)
    return times, flux


def detect_onset(samples: np.ndarray, rate: int, onset: float, previous: float | None, following: float | None) -> float | None:
    lo = onset - WINDOW if previous is None else max(onset - WINDOW, previous + 0.015)
    hi = onset + WINDOW if following is None else min(onset + WINDOW, following)
    times, flux = flux_around(samples, rate, onset)
    inside = np.flatnonzero((times >= lo - 1e-9) & (times <= hi + 1e-9))
    if not len(inside) or flux[inside].max() <= 0:
        return None
    threshold = 0.5 * flux[inside].max()
    for i in inside:
        # a peak: rising into it (the decaying tail of an earlier note is no onset) and falling after
        if flux[i] >= threshold and flux[i] > flux[i - 1] and (i + 1 == len(flux) or flux[i] >= flux[i + 1]):
            return float(times[i])
    return None


def measure_onsets(row: dict, moved: float = 0.0) -> tuple[list[float], np.ndarray, int]:
    """The onsets of the row's measures that begin with a note (a note-on of the passage MIDI within
    1 ms), the note-ons of the passage MIDI (the neighbours that bound the detector's window), and
    the number of measures. ``moved`` is added to the measure onsets."""
    ons = note_ons(row["midi"])
    onsets = [m["onset"] for m in row["measures"]]
    return [t + moved for t in onsets if (np.abs(ons - t) <= 0.001).any()], ons, len(onsets)


SEPARATION = 0.030  # seconds: a note "starts alone or with a chord" when no other onset is this close


def chord_onsets(row: dict, moved: float = 0.0) -> tuple[list[float], np.ndarray, int]:
    """One onset per note of the row's ``notes`` that starts alone or with a chord (every other
    note of the row starts within 1 ms of it or more than SEPARATION away), the onsets of all the
    row's notes (the neighbours), and the number of notes; ``moved`` is added to every note onset."""
    ons = np.unique(np.array([n["onset"] for n in row["notes"]], dtype=float)) + moved
    onsets = []
    for n in row["notes"]:
        t = n["onset"] + moved
        near = np.abs(ons - t)
        if not ((near > 0.001) & (near < SEPARATION)).any():
            onsets.append(t)
    return onsets, ons, len(row["notes"])


def onset_errors(rows: list[dict], shift: float = 0.0, targets=measure_onsets, moved: float = 0.0) -> tuple[np.ndarray, int]:
    """Detected minus labelled onset for every onset ``targets`` picks from a row (by default the
    measures that begin with a note; :func:`chord_onsets` for notes; a missed detection counts as
    1 s), and the number of measures or notes seen. ``shift`` > 0 delays the audio, < 0 advances it
    (the calibration check); ``moved`` is added to the labels instead (a tamper of the labels)."""
    errors, seen = [], 0
    for row in rows:
        samples, rate = soundfile.read(io.BytesIO(row["audio"]["bytes"]), dtype="float64")
        if shift > 0:
            samples = np.concatenate([np.zeros(round(shift * rate)), samples])
        elif shift < 0:
            samples = samples[round(-shift * rate):]
        onsets, ons, count = targets(row, moved)
        seen += count
        for onset in onsets:
            before, after = ons[ons < onset - 0.001], ons[ons > onset + 0.001]
            found = detect_onset(samples, rate, onset, before.max() if len(before) else None, after.min() if len(after) else None)
            errors.append(1.0 if found is None else found - onset)
    return np.array(errors), seen


# --- checks ---------------------------------------------------------------------------------------


def inside(inner, outer) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def check_geometry(built) -> int:
    """Every system, measure and staff box lies inside its image; staff boxes inside their measure
    box (which is their union), measure boxes inside their system. Returns the measures checked."""
    width_px = built.cfg.engrave.width_px
    checked = 0
    for row in built.all_rows():
        image = Image.open(io.BytesIO(row["image"]["bytes"]))
        assert image.format == "PNG" and image.mode == "L"
        width, height = image.size
        assert width == width_px and height > width  # portrait A4
        image_box = (0, 0, width, height)
        for box in row["systems"]:
            assert box[0] < box[2] and box[1] < box[3] and inside(box, image_box), (row["score_id"], box)
        assert row["measures"]
        for m in row["measures"]:
            box = m["box"]
            where = (row["score_id"], row["page"], m["number"])
            assert box[0] < box[2] and box[1] < box[3] and inside(box, image_box), (where, box, image.size)
            assert 0 <= m["system"] < len(row["systems"]), where
            assert inside(box, row["systems"][m["system"]]), where
            assert m["staff_boxes"], where
            for staff in m["staff_boxes"]:
                assert staff[0] < staff[2] and staff[1] < staff[3] and inside(staff, box), (where, staff)
            staves = np.array(m["staff_boxes"])
            assert box == pytest.approx([*staves[:, :2].min(axis=0), *staves[:, 2:].max(axis=0)]), where
            checked += 1
    return checked


def check_staff_lines(built) -> int:
    """The top and bottom edge of every staff box is a dark (drawn) row of the raster: the boxes are
    where the lines are, not merely somewhere inside the page. Two pixels off, only ~5 % are."""

    def darkness(pixels, x0, x1, y) -> float:
        i = int(round(y))
        return pixels[max(0, i - 1): i + 2, int(np.ceil(x0)) + 2: int(x1) - 2].mean(axis=1).min()

    edges, light = 0, []
    for row in built.all_rows():
        pixels = np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])), dtype=float)
        for m in row["measures"]:
            for x0, y0, x1, y1 in m["staff_boxes"]:
                assert 6 < (y1 - y0) / 4 < 20  # five lines four spaces apart, a plausible space
                for y in (y0, y1):
                    edges += 1
                    if darkness(pixels, x0, x1, y) >= 200:
                        light.append((row["score_id"], row["page"], m["number"], y))
    assert not light, f"{len(light)} of {edges} staff-box edges are not on a drawn line, e.g. {light[:3]}"
    return edges


def check_timing(built) -> None:
    """Onsets and offsets within the audio, onsets non-decreasing from 0, measures contiguous, and
    the audio exactly as long as the passage plus the release tail."""
    rate = built.cfg.render.sample_rate
    tail = built.cfg.render.release_tail_s
    for row in built.all_rows():
        frames, file_rate = audio_frames(row)
        assert file_rate == rate
        duration = frames / rate
        assert row["duration"] == pytest.approx(duration, abs=1e-4)
        onsets = [m["onset"] for m in row["measures"]]
        offsets = [m["offset"] for m in row["measures"]]
        where = (row["score_id"], row["page"], row["visit"])
        assert onsets[0] == 0.0, where
        assert all(a <= b for a, b in zip(onsets, onsets[1:])), where
        assert all(0 <= t <= duration for t in onsets + offsets), where
        assert all(on <= off for on, off in zip(onsets, offsets)), where
        assert offsets[:-1] == onsets[1:], where  # each measure ends where the next begins
        last = offsets[-1]
        assert last > 0, where
        assert last - 1e-4 <= duration <= last + tail + 1 / rate + 1e-4, (where, last, duration)


def check_splits(built) -> None:
    """No piece in two splits (by score id, and by normalised composer and title); test audio from
    test soundfonts only, train and validation from training ones; tempo ratios as configured."""
    by_id: dict[str, set[str]] = {}
    by_piece: dict[str, set[str]] = {}
    for split, rows in built.rows.items():
        for row in rows:
            assert row["split"] == split
            by_id.setdefault(row["score_id"], set()).add(split)
            if row["title"] or row["composer"]:
                by_piece.setdefault(normalised_piece(row["composer"], row["title"]), set()).add(split)
    assert {k: v for k, v in by_id.items() if len(v) > 1} == {}
    assert {k: v for k, v in by_piece.items() if len(v) > 1} == {}
    roles = soundfont_roles()
    cfg = built.cfg.render
    for split, rows in built.rows.items():
        wanted = "test" if split == "test" else "train"
        used = {row["soundfont"] for row in rows}
        assert used and {roles[name] for name in used} == {wanted}, (split, used)
        allowed = cfg.train_tempo_ratios if split == "train" else cfg.eval_tempo_ratios
        assert {row["tempo_ratio"] for row in rows} <= set(allowed), split


def check_labels(built) -> None:
    for row in built.all_rows():
        where = (row["score_id"], row["page"])
        assert -7 <= row["key_fifths"] <= 7, where
        assert re.fullmatch(r"\d+/\d+", row["meter"]), (where, row["meter"])
        assert row["polyphony"] >= 1, where
        assert 1 <= row["page"] <= row["n_pages"] and row["visit"] >= 0, where


def check_card_counts(built) -> None:
    declared = card_splits(built.out)
    assert declared == shard_rows(built.out)
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
    offset within a tick of the 1/1920 s grid), by onset; each lies in the measure it names
    (``measures[m].onset <= onset < measures[m].offset``) and its box, if any, inside the image.
    Returns the notes checked."""
    tick = 1 / 1920 + 1e-4  # the grid, plus float32 seconds
    checked = 0
    for row in built.all_rows():
        where = (row["score_id"], row["page"], row["visit"], row["soundfont"], row["tempo_ratio"])
        notes, measures = row["notes"], row["measures"]
        assert notes, where
        midi = midi_notes(row["midi"])
        assert len(notes) == len(midi), (where, len(notes), len(midi))
        assert [n["onset"] for n in notes] == sorted(n["onset"] for n in notes), where
        mine = sorted(notes, key=lambda n: (round(n["onset"] * 1920), n["pitch"]))
        for n, (on, off, key, velocity, _) in zip(mine, midi):
            assert (n["pitch"], n["velocity"]) == (key, velocity), (where, n, key, velocity)
            assert abs(n["onset"] - on) <= tick, (where, n, on)
            assert abs(max(n["offset"], n["onset"] + 1 / 1920) - off) <= tick, (where, n, off)  # a note lasts a tick at least
        width, height = Image.open(io.BytesIO(row["image"]["bytes"])).size
        for n in notes:
            m = n["measure"]
            assert 0 <= m < len(measures), (where, n)
            assert measures[m]["onset"] - 1e-4 <= n["onset"] < measures[m]["offset"] + 1e-4, (where, n, measures[m])
            assert n["onset"] <= n["offset"] <= measures[-1]["offset"] + 1e-4, (where, n)
            assert 0 < n["pitch"] and 0 < n["velocity"] and n["engraved_id"], (where, n)
            box = n["box"]
            assert box is None or (box[0] < box[2] and box[1] < box[3] and inside(box, (0, 0, width, height))), (where, n)
        assert [n["measure"] for n in notes] == sorted(n["measure"] for n in notes), where
        checked += len(notes)
    return checked


def notehead_ink(built, moved: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """For every distinct notehead box of the build's pages (each page once), moved by ``moved``
    pixels: the darkest pixel of its central half (0 black, 255 white), and the share of its
    pixels that are dark (< 128)."""
    pages: dict[tuple[str, int], tuple[bytes, set]] = {}
    for row in built.all_rows():
        image, boxes = pages.setdefault((row["score_id"], row["page"]), (row["image"]["bytes"], set()))
        boxes.update(tuple(n["box"]) for n in row["notes"] if n["box"] is not None)
    cores, shares = [], []
    for image, boxes in pages.values():
        pixels = np.asarray(Image.open(io.BytesIO(image)), dtype=float)
        for x0, y0, x1, y1 in sorted(boxes):
            x0, x1, y0, y1 = x0 + moved[0], x1 + moved[0], y0 + moved[1], y1 + moved[1]
            w, h = x1 - x0, y1 - y0
            core = pixels[max(0, int(y0 + h / 4)): int(np.ceil(y1 - h / 4)), max(0, int(x0 + w / 4)): int(np.ceil(x1 - w / 4))]
            whole = pixels[max(0, int(round(y0))): int(round(y1)), max(0, int(round(x0))): int(round(x1))]
            cores.append(core.min() if core.size else 255.0)
            shares.append((whole < 128).mean() if whole.size else 0.0)
    return np.array(cores), np.array(shares)
