"""How far apart the pianos sound: every soundfont plays the same passages, and two timbre measures
compare every pair.

Passages (:func:`passages`): a probe of single notes every fifth key from A0 to C8 and five
chords, at velocities 40, 80 and 112, and the first 20 s of two scores of the embedded default
(Bach's C major prelude BWV 846, Mozart's K. 545 exposition) as the pipeline's MIDI plays them.
Each piano plays them at 22.05 kHz through :class:`~pdmx_fusa.audio.synth.Piano`.

Measures, each the mean over the passages, in dB:

- **bands**: the long-term spectrum (frames of 8192, Hann) summed into the 25 third-octave bands
  from 31.5 Hz to 8 kHz, in dB, floored 60 dB below the loudest band, with the mean over bands
  removed (so the overall level does not count); the distance of two pianos is the mean absolute
  difference over bands.
- **mfcc**: 40 mel bands (30 Hz-8 kHz, frames of 2048, hop 512, Hann) in dB, floored 80 dB below
  the loudest value, and their orthonormal DCT; coefficients 1-12 (0, the level, left out) of the
  frames within 50 dB of the passage's loudest frame, summarised by their mean and standard
  deviation. The distance is the Euclidean norm of the differences of both over sqrt(40): with an
  orthonormal DCT, the RMS difference in dB of the two cepstrally smoothed mel spectra.

Two presets closer than :data:`SAME_INSTRUMENT_DB` in bands are one instrument: presets of one
sample set measured 0.8-2.2 dB apart, different recordings 3.5 dB and more. A preset that filters
its samples (FluidR3's mellow grand, TimGM6mb's Piano 2) can measure as far as another piano, so
``soundfonts.txt`` lists the plain piano of each sample set only (``docs/pianos.md``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from ..config import ParseConfig
from ..sources import embedded
from .midi import TICKS_PER_SECOND, PassageEvent, cut_passage
from .soundfonts import Soundfont

SAMPLE_RATE = 22050
PROBE_VELOCITIES = (40, 80, 112)
SCORES = {"bwv846": "bach/bwv846.mxl", "k545": "mozart/k545/movement1_exposition.mxl"}
PHRASE_S = 20.0
SAME_INSTRUMENT_DB = 3.0  # band distance below which two presets are one instrument

BANDS = 1000.0 * 2.0 ** (np.arange(-15, 10) / 3)  # third-octave centres, 31.5 Hz-8 kHz
N_MELS, N_MFCC = 40, 12


@dataclass(frozen=True)
class Distances:
    """Pairwise distances of ``names`` (soundfont names), each an (n, n) array in dB."""

    names: list[str]
    bands: np.ndarray
    mfcc: np.ndarray


def passages() -> list[tuple[str, list[PassageEvent], float]]:
    """The passages every piano plays: (label, events, seconds)."""
    from ..stages.parse import parse  # the pipeline's own MIDI of the scores

    out = []
    for velocity in PROBE_VELOCITIES:
        events = _probe(velocity)
        out.append((f"probe v{velocity}", events, events[-1].tick / TICKS_PER_SECOND + 1.5))
    refs = {r.score_id: r for r in embedded.list_scores()}
    for label, rel in SCORES.items():
        midi = parse(refs[f"music21/{rel}"], ParseConfig()).midi
        out.append((label, cut_passage(midi, 0.0, PHRASE_S, 1.0), PHRASE_S + 1.5))
    return out


def _probe(velocity: int) -> list[PassageEvent]:
    """Single notes every fifth key, A0 to C8, 0.6 s each, then five triads, 1.2 s each."""
    singles = [((key,), 0.6) for key in range(21, 109, 5)]
    chords = [((k, k + 4, k + 7), 1.2) for k in (36, 48, 60, 72, 84)]
    events, start = [], 0
    for keys, seconds in singles + chords:
        for key in keys:
            end = start + round(seconds * TICKS_PER_SECOND)
            events += [PassageEvent(start, "note_on", 0, key, velocity), PassageEvent(end, "note_off", 0, key, 0)]
        start += round((seconds + 0.15) * TICKS_PER_SECOND)
    order = {"note_off": 0, "note_on": 2}
    return sorted(events, key=lambda e: (e.tick, order[e.kind], e.a))


def features(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """Band levels (25,) in dB, mean removed, and MFCC statistics (2 * 12,) of mono ``audio``."""
    spectrum = _frames(audio, 8192, 4096).mean(axis=0)
    freqs = np.fft.rfftfreq(8192, 1 / sample_rate)
    bands = np.array([spectrum[(freqs >= c * 2 ** -(1 / 6)) & (freqs < c * 2 ** (1 / 6))].sum() for c in BANDS])
    levels = 10 * np.log10(np.maximum(bands, 1e-20))
    levels = np.maximum(levels, levels.max() - 60)
    power = _frames(audio, 2048, 512)
    loud = 10 * np.log10(power.sum(axis=1) + 1e-20)
    power = power[loud >= loud.max() - 50]
    mel = 10 * np.log10(power @ _mel_filters(sample_rate, 2048).T + 1e-20)
    mel = np.maximum(mel, mel.max() - 80)
    cepstra = mel @ _dct(N_MELS).T
    cepstra = cepstra[:, 1 : N_MFCC + 1]
    return levels - levels.mean(), np.concatenate([cepstra.mean(axis=0), cepstra.std(axis=0)])


def _frames(audio: np.ndarray, size: int, hop: int) -> np.ndarray:
    """Power spectra of Hann-windowed frames, (frames, size // 2 + 1)."""
    padded = np.concatenate([audio.astype(np.float64), np.zeros(size)])
    starts = np.arange(0, max(1, len(audio) - size // 2), hop)
    frames = np.stack([padded[s : s + size] for s in starts]) * np.hanning(size)
    return np.abs(np.fft.rfft(frames, axis=1)) ** 2


def _mel_filters(sample_rate: int, size: int) -> np.ndarray:
    """Triangular mel filters (HTK mel scale), (40, size // 2 + 1)."""
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    edges = 700 * (10 ** (np.linspace(mel(30.0), mel(8000.0), N_MELS + 2) / 2595) - 1)
    freqs = np.fft.rfftfreq(size, 1 / sample_rate)
    low, centre, high = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0, np.minimum((freqs - low) / (centre - low), (high - freqs) / (high - centre)))


def _dct(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix, (n, n)."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    matrix = np.sqrt(2 / n) * np.cos(np.pi * k * (2 * i + 1) / (2 * n))
    matrix[0] /= np.sqrt(2)
    return matrix


def compare_pianos(fonts: list[Soundfont], progress: bool = True) -> Distances:
    """Every pair of ``fonts``' distances over :func:`passages`."""
    from .synth import Piano

    played = passages()
    bands, mfcc = [], []
    for font in tqdm(fonts, desc="pianos", unit="piano", disable=not progress):
        piano = Piano(font, SAMPLE_RATE)
        measured = [features(piano.play(events, seconds)) for _, events, seconds in played]
        bands.append(np.stack([m[0] for m in measured]))
        mfcc.append(np.stack([m[1] for m in measured]))
    bands, mfcc = np.stack(bands), np.stack(mfcc)  # (pianos, passages, features)
    band_d = np.abs(bands[:, None] - bands[None, :]).mean(axis=(2, 3))
    mfcc_d = (np.linalg.norm(mfcc[:, None] - mfcc[None, :], axis=3) / np.sqrt(N_MELS)).mean(axis=2)
    return Distances([f.name for f in fonts], band_d, mfcc_d)


def instruments(distances: Distances) -> list[list[str]]:
    """The names grouped into instruments: presets linked by band distances below
    :data:`SAME_INSTRUMENT_DB`."""
    group = list(range(len(distances.names)))
    for i in range(len(group)):
        for j in range(i):
            if distances.bands[i, j] < SAME_INSTRUMENT_DB:
                old, new = group[i], group[j]
                group = [new if g == old else g for g in group]
    found: dict[int, list[str]] = {}
    for name, g in zip(distances.names, group):
        found.setdefault(g, []).append(name)
    return list(found.values())


def choose_test(distances: Distances) -> tuple[list[str], float]:
    """The presets of the instruments that should be the test pianos, and the smallest band
    distance (dB) between one of them and a training instrument.

    Of every choice of one instrument, or up to a third of them, the one whose nearest training
    instrument is farthest; a choice of more instruments wins only when that distance is larger.
    """
    groups = instruments(distances)
    index = {name: i for i, name in enumerate(distances.names)}

    def gap(test: tuple[int, ...]) -> float:
        return min(
            distances.bands[index[a], index[b]]
            for i in test for j in range(len(groups)) if j not in test
            for a in groups[i] for b in groups[j]
        )

    choices = [c for size in range(1, max(1, len(groups) // 3) + 1) for c in itertools.combinations(range(len(groups)), size)]
    best = max(choices, key=lambda c: (round(gap(c), 1), -len(c)))
    return [name for i in best for name in groups[i]], float(gap(best))


def piano_distances(fonts: list[Soundfont], distances: Distances | None = None) -> dict[str, dict]:
    """For each test soundfont of ``fonts``, its nearest training soundfont and how far it is:
    ``{test name: {"nearest_train": name, "bands_db": float, "mfcc_db": float}}`` (dB, rounded to
    0.1). ``distances``: those of :func:`compare_pianos` over at least ``fonts``, else measured."""
    distances = distances or compare_pianos(fonts, progress=False)
    index = {name: i for i, name in enumerate(distances.names)}
    train = [index[f.name] for f in fonts if f.role == "train"]
    out = {}
    for font in fonts:
        if font.role == "test":
            i = index[font.name]
            nearest = min(train, key=lambda j: distances.bands[i, j])
            out[font.name] = {
                "nearest_train": distances.names[nearest],
                "bands_db": round(float(distances.bands[i, nearest]), 1),
                "mfcc_db": round(float(distances.mfcc[i, nearest]), 1),
            }
    return out


def table(distances: Distances) -> str:
    """A Markdown table: band distance / MFCC distance for every pair, in dB."""
    names = distances.names
    lines = ["| dB (bands / mfcc) | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for i, name in enumerate(names):
        cells = ["" if i == j else f"{distances.bands[i, j]:.1f} / {distances.mfcc[i, j]:.1f}" for j in range(len(names))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(fonts: list[Soundfont], distances: Distances) -> tuple[str, dict]:
    """The comparison as text (the table, the instruments, the test role the measures suggest and
    how far the listed test pianos are from the training ones) and as a JSON-ready dict."""
    groups = instruments(distances)
    suggested, gap = choose_test(distances)
    listed = piano_distances(fonts, distances)
    text = [
        f"Distances between pianos (dB; third-octave bands / MFCC) over the passages {', '.join(passages_labels())}:",
        "",
        table(distances),
        "",
        f"{len(groups)} instruments (presets under {SAME_INSTRUMENT_DB} dB in bands count once): "
        + "; ".join(" = ".join(g) for g in groups),
        f"suggested test role: {', '.join(suggested)} ({gap:.1f} dB in bands from the nearest training instrument)",
        *(f"listed test piano {name}: nearest training piano {d['nearest_train']}, {d['bands_db']} dB in bands, "
          f"{d['mfcc_db']} dB in MFCC" for name, d in listed.items()),
    ]
    data = {
        "names": distances.names,
        "bands_db": np.round(distances.bands, 2).tolist(),
        "mfcc_db": np.round(distances.mfcc, 2).tolist(),
        "instruments": groups,
        "suggested_test": suggested,
        "suggested_gap_db": round(gap, 2),
        "test_distances": listed,
    }
    return "\n".join(text), data


def passages_labels() -> list[str]:
    return [f"probe v{v}" for v in PROBE_VELOCITIES] + list(SCORES)
