"""Content: what each measure's notes say against what the audio plays over the measure's span.

For every measure, the pitch-class profile of the notes the ``notes`` column has sounding in its
span (each note's harmonics 1-8 at amplitude 1/h folded onto pitch classes, weighted by its sound,
decaying from its onset with time constant :data:`DECAY_S`, integrated over the part of the note,
at least :data:`MIN_WEIGHT_S` long, that lies in the measure) is correlated (Pearson, 12 bins) with the
chroma of the audio over the measure's ``[onset, offset)``: an STFT of 4096 samples every 1024,
magnitudes of 55 Hz to 4.2 kHz summed by pitch class. A measure is flagged when the chroma
correlates better, by more than :data:`MARGIN`, with a neighbouring measure's notes (the one
played before or after) than with its own: its labels look shifted. Times shifted by a whole
measure flag most measures whose harmony changes from one to the next (about 90 % of the embedded
default's test split); on the embedded default and 8 asap-dev scores none was flagged (0.3 % and
0.6 % with a margin of 0.15, all where a neighbour shares most of the harmony). An example with
:data:`MAX_FLAGGED_IN_EXAMPLE` of its measures flagged (3 at least) fails the check on its own:
one shifted example among many is not diluted.
"""

from __future__ import annotations

import numpy as np

from .report import Check
from .rows import Row

MAX_FLAGGED = 0.01  # threshold: share of measures flagged as shifted must stay below this
MAX_FLAGGED_IN_EXAMPLE = 0.25  # threshold: and in no example may this share (3 measures at least) be flagged
MARGIN = 0.25  # correlation a neighbour must win by
MIN_WEIGHT_S = 0.1  # s: a note sounds this long at least
DECAY_S = 1.0  # s: a note's weight decays as exp(-t / DECAY_S) from its onset, as a piano's sound does
FRAME = 4096
HOP = 1024
LOWEST, HIGHEST = 55.0, 4200.0  # Hz
HARMONICS = 8


def chroma(samples: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame centre times (s) and chroma (frames, 12) of ``samples`` (C = 0)."""
    padded = np.concatenate([np.zeros(FRAME // 2), np.asarray(samples, dtype=float), np.zeros(FRAME // 2)])
    count = max(1, 1 + (len(padded) - FRAME) // HOP)
    starts = np.arange(count) * HOP
    freqs = np.fft.rfftfreq(FRAME, 1 / rate)
    band = (freqs >= LOWEST) & (freqs <= HIGHEST)
    classes = np.round(12 * np.log2(freqs[band] / 440.0) + 69).astype(int) % 12
    fold = np.zeros((band.sum(), 12))
    fold[np.arange(band.sum()), classes] = 1.0
    out = np.zeros((count, 12))
    window = np.hanning(FRAME)
    for lo in range(0, count, 512):  # blocks of frames, to bound memory
        block = starts[lo: lo + 512]
        frames = padded[block[:, None] + np.arange(FRAME)] * window
        out[lo: lo + len(block)] = np.abs(np.fft.rfft(frames, axis=1))[:, band] @ fold
    return starts / rate, out


def _template() -> np.ndarray:
    """(128, 12): the pitch-class profile of each MIDI pitch with its harmonics."""
    table = np.zeros((128, 12))
    for pitch in range(128):
        for h in range(1, HARMONICS + 1):
            table[pitch, int(round(pitch + 12 * np.log2(h))) % 12] += 1.0 / h
    return table


TEMPLATE = _template()


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm > 0 else np.nan


def measure_scores(ex: Row) -> tuple[np.ndarray, np.ndarray]:
    """(measures, 3) correlations of each measure's audio chroma with the notes of the measure
    before, its own and the one after (NaN where there are none), and which measures are flagged."""
    measures, notes = ex.row["measures"], ex.row["notes"]
    profiles = np.zeros((len(measures), 12))
    spans = np.array([(m["onset"], m["offset"]) for m in measures], dtype=float)
    for n in notes:
        onset, offset = n["onset"], max(n["offset"], n["onset"] + MIN_WEIGHT_S)
        for i in np.flatnonzero((spans[:, 0] < offset) & (spans[:, 1] > onset)):
            start, end = max(onset, spans[i, 0]) - onset, min(offset, spans[i, 1]) - onset
            profiles[i] += DECAY_S * (np.exp(-start / DECAY_S) - np.exp(-end / DECAY_S)) * TEMPLATE[n["pitch"] % 128]
    times, frames = chroma(ex.samples, ex.rate)
    scores = np.full((len(measures), 3), np.nan)
    for i, m in enumerate(measures):
        inside = (times >= m["onset"]) & (times < m["offset"])
        heard = frames[inside].mean(axis=0) if inside.any() else frames[np.argmin(np.abs(times - m["onset"]))]
        for k, j in enumerate((i - 1, i, i + 1)):
            if 0 <= j < len(measures) and profiles[j].any():
                scores[i, k] = _corr(heard, profiles[j])
    neighbour = np.fmax(scores[:, 0], scores[:, 2])
    flagged = ~np.isnan(scores[:, 1]) & ~np.isnan(neighbour) & (neighbour > scores[:, 1] + MARGIN)
    return scores, flagged


class ContentChecks:
    """Accumulates :meth:`add` per example; :meth:`finish` gives the ``chroma`` check."""

    def __init__(self) -> None:
        self.check = Check("content", "chroma", f"fewer than {MAX_FLAGGED:.0%} of measures, and in no example {MAX_FLAGGED_IN_EXAMPLE:.0%} "
                                                "(3 at least), sound more like a neighbour's notes than their own")
        self.own: list[float] = []
        self.flagged = self.measures = 0
        self.worst: list[tuple[int, str]] = []  # (measures flagged, what to say) per example with any
        self.shifted = 0  # examples over MAX_FLAGGED_IN_EXAMPLE

    def add(self, ex: Row) -> None:
        scores, flagged = measure_scores(ex)
        judged = ~np.isnan(scores[:, 1])
        self.own += scores[judged, 1].tolist()
        self.measures += int(judged.sum())
        self.flagged += int(flagged.sum())
        self.shifted += int(flagged.sum() >= max(3, MAX_FLAGGED_IN_EXAMPLE * judged.sum()))
        if flagged.any():
            numbers = [ex.row["measures"][i]["number"] for i in np.flatnonzero(flagged)]
            self.worst.append((int(flagged.sum()), f"{ex.where}: {flagged.sum()} of {judged.sum()} measures flagged, e.g. {numbers[:5]}"))

    def finish(self) -> list[Check]:
        share = self.flagged / self.measures if self.measures else 0.0
        self.check.figures.update({
            "measures": self.measures, "flagged": self.flagged, "flagged_share": round(share, 4), "examples_shifted": self.shifted,
            "own_corr_median": round(float(np.median(self.own)), 3) if self.own else None,
        })
        for _, line in sorted(self.worst, key=lambda w: -w[0]):
            self.check.problem(line)
        self.check.passed = bool(self.measures) and share < MAX_FLAGGED and not self.shifted
        return [self.check]
