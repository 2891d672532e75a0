"""Decoded copies of sf3 soundfonts: they must sound exactly like the original."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from pdmx_fusa.audio.midi import TICKS_PER_SECOND, PassageEvent
from pdmx_fusa.audio.sf3 import SILENCE, VORBIS, playable
from pdmx_fusa.audio.soundfonts import read_soundfonts
from pdmx_fusa.audio.synth import DEFAULT_PRESET, Piano

from conftest import SOUNDFONTS

FONTS = read_soundfonts(SOUNDFONTS)
SF3 = [f for f in FONTS if f.path.endswith(".sf3")]


def _keyboard() -> list[PassageEvent]:
    """Every key at four velocities, then the pedal held for 15 s, long enough for every sample's loop."""
    events = [PassageEvent(TICKS_PER_SECOND, "control_change", 0, 64, 127)]
    for n, (key, velocity) in enumerate((k, v) for k in range(21, 109) for v in (20, 60, 100, 127)):
        onset = n * TICKS_PER_SECOND // 20
        events += [PassageEvent(onset, "note_on", 0, key, velocity), PassageEvent(onset + TICKS_PER_SECOND, "note_off", 0, key, 0)]
    events.append(PassageEvent(33 * TICKS_PER_SECOND, "control_change", 0, 64, 0))
    return sorted(events, key=lambda e: (e.tick, e.kind != "control_change"))


def _headers(sf2: bytes) -> list[tuple]:
    at = sf2.index(b"shdr")
    size = struct.unpack_from("<I", sf2, at + 4)[0]
    return [struct.unpack_from("<20sIIIIIBbHH", sf2, at + 8 + i) for i in range(0, size - 46, 46)]


@pytest.mark.skipif(not SF3 or not Path(SF3[0].path).is_file(), reason="needs an installed sf3 soundfont of soundfonts.txt")
def test_decoded_copy_sounds_like_the_original(tmp_path):
    font = SF3[0]
    presets = [(font.bank, font.preset), DEFAULT_PRESET]
    copy = playable(font.path, font.sha256, presets, tmp_path)
    assert copy != font.path and Path(copy).parent == tmp_path
    unwritable = tmp_path / "file"
    unwritable.write_text("")
    assert playable(font.path, font.sha256, presets, unwritable / "cache") == font.path  # falls back
    assert playable(font.path, "0" * 64, presets, tmp_path) == font.path  # not the file it claims to be
    assert len(list(tmp_path.glob("*.sf2"))) == 1

    sf2 = Path(copy).read_bytes()
    assert struct.unpack_from("<HH", sf2, sf2.index(b"ifil") + 8) == (2, 4)
    headers = _headers(sf2)
    assert not any(h[-1] & VORBIS for h in headers)
    decoded = [h for h in headers if h[2] - h[1] != SILENCE]
    assert 0 < len(decoded) < len(headers) / 2  # the piano's samples, not the whole General MIDI set

    original = Piano(font, 22050, decoded=unwritable / "cache")  # the sf3 itself
    fast = Piano(font, 22050, decoded=tmp_path)
    events = _keyboard()
    expected = original.play(events, 36.0)
    assert np.abs(expected).max() > 0.05
    assert fast.play(events, 36.0).tobytes() == expected.tobytes()

    mtime = Path(copy).stat().st_mtime_ns
    assert playable(font.path, font.sha256, presets, tmp_path) == copy and Path(copy).stat().st_mtime_ns == mtime


def test_sf2_is_loaded_as_it_is(tmp_path):
    font = next(f for f in FONTS if f.path.endswith(".sf2"))
    if not Path(font.path).is_file():
        pytest.skip(f"needs {font.path}")
    assert playable(font.path, font.sha256, [(font.bank, font.preset)], tmp_path) == font.path
    assert not any(tmp_path.iterdir())


def test_not_a_soundfont_is_left_to_fluidsynth(tmp_path):
    junk = tmp_path / "junk.sf3"
    junk.write_bytes(b"RIFF\x04\x00\x00\x00sfbkLIST")
    assert playable(str(junk), "0" * 64, [(0, 0)], tmp_path / "cache") == str(junk)
