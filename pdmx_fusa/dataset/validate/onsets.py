"""Audio: onsets detected in the decoded audio against the labelled note and measure onsets.

The detector is a spectral flux in numpy: frames of 1024 samples (Hann) centred every 2 ms,
log(1 + 10 |X|), the rise summed over bins across 8 ms. Around a labelled onset the search window
is +-50 ms, cut so that it does not reach back to the previous labelled onset (+15 ms) nor on past
the next one; the detected onset is the first peak of the flux (rising into it, falling after)
above half-way from the flux's median over +-80 ms (the fluctuation of the notes still sounding)
to the window's largest value. A window with none counts as an error of 1 s.

Chords: notes struck within :data:`CHORD` of a chord's first note are that chord (a pianist's
spread, as in the expressive renditions, where a chord's lower notes follow its top note by up to
15 ms); a chord is searched for around its first note, and each of its notes' errors is measured
from its own labelled onset. Which onsets are checked: every note of a chord struck alone (no
other chord struck within :data:`SEPARATION`), and every measure that begins with such a note (a
measure whose first note follows a grace note by 10 ms has no fair window: the search would
start after it).
Calibrated on the embedded default (median error -2 ms: FluidSynth starts a note 2-5 ms after its
event) and 8 asap-dev scores with velocities and five pianos (99.1 % of notes within 30 ms, p95
8 ms; labels moved by +-50 ms: 7-14 %). Half of the window's largest value alone, without the
median, took soft notes under sustained ones for noise peaks 30-50 ms early (94.5 %, p95 34 ms).
Shorter frames miss soft bass notes under released chords; longer ones blur by 50 ms.
"""

from __future__ import annotations

import math

import numpy as np

from .report import Check, spread
from .rows import Row

MAX_P95_MS = 30.0  # threshold: 95th percentile of |detected - labelled| onset
TOLERANCE = 0.030  # s: an onset "within 30 ms", the share reported
SEPARATION = 0.030  # s: a chord is struck alone when no other chord is struck this close
CHORD = 0.025  # s: notes struck within this of a chord's first note are that chord
HOP = 0.002
FRAME = 1024
LAG = 4  # frames: 8 ms
COMPRESSION = 10.0
WINDOW = 0.05
MISSED = 1.0  # s: the error a window without a detected onset counts as


class Flux:
    """Spectral flux of one example's audio, on demand around a time.

    Parameters
    ----------
    samples : float array (frames,), mono audio
    rate : samples per second
    """

    def __init__(self, samples: np.ndarray, rate: int) -> None:
        self.rate = rate
        self.pad = FRAME + int(0.2 * rate)
        self.padded = np.concatenate([np.zeros(self.pad), np.asarray(samples, dtype=float), np.zeros(self.pad)])
        self.window = np.hanning(FRAME)

    def around(self, centre: float, span: float = 0.08) -> tuple[np.ndarray, np.ndarray]:
        """Times (s) every :data:`HOP` from ``centre - span`` to ``centre + span``, and the flux there."""
        times = centre + np.arange(-span, span + 1e-9, HOP)
        starts = np.clip(np.round(times * self.rate).astype(int) + self.pad - FRAME // 2, 0, len(self.padded) - FRAME)
        frames = self.padded[starts[:, None] + np.arange(FRAME)] * self.window
        magnitude = np.log1p(COMPRESSION * np.abs(np.fft.rfft(frames, axis=1)))
        flux = np.zeros(len(times))
        flux[LAG:] = np.maximum(magnitude[LAG:] - magnitude[:-LAG], 0).sum(axis=1)
        return times, flux

    def detect(self, onset: float, previous: float | None, following: float | None) -> float | None:
        """The detected onset (s) nearest the labelled ``onset``, searched between the labelled
        neighbours ``previous`` and ``following`` (None: no neighbour); None if there is none."""
        lo = onset - WINDOW if previous is None else max(onset - WINDOW, previous + 0.015)
        hi = onset + WINDOW if following is None else min(onset + WINDOW, following)
        times, flux = self.around(onset)
        inside = np.flatnonzero((times >= lo - 1e-9) & (times <= hi + 1e-9))
        if not len(inside) or flux[inside].max() <= 0:
            return None
        background = np.median(flux[LAG:])  # sustained notes' own fluctuation, over the +-80 ms computed
        threshold = background + 0.5 * (flux[inside].max() - background)
        for i in inside:
            # a peak: rising into it (the decaying tail of an earlier note is no onset) and falling after
            if flux[i] >= threshold and flux[i] > flux[i - 1] and (i + 1 == len(flux) or flux[i] >= flux[i + 1]):
                return float(times[i])
        return None

    def errors(self, targets, chords: np.ndarray) -> np.ndarray:
        """Detected minus labelled onset (s) for each of ``targets`` (s): its chord (the latest of
        the sorted chord starts ``chords``, see :func:`struck`, at or before it, if within
        :data:`CHORD`, else itself) searched for between the chords struck before and after;
        :data:`MISSED` where none is found."""
        targets = np.asarray(targets, dtype=float)
        if not len(targets):
            return np.zeros(0)
        at = np.searchsorted(chords, targets + 0.001, side="right") - 1
        starts = np.where((at >= 0) & (targets - chords[np.maximum(at, 0)] <= CHORD), chords[np.maximum(at, 0)], targets)
        unique, back = np.unique(starts, return_inverse=True)  # a chord's notes: one detection
        found = []
        for onset in unique:
            before, after = chords[chords < onset - 0.001], chords[chords > onset + 0.001]
            detected = self.detect(onset, before.max() if len(before) else None, after.min() if len(after) else None)
            found.append(math.nan if detected is None else detected)
        detected = np.array(found)[back.ravel()]
        return np.where(np.isnan(detected), MISSED, detected - targets)


def struck(onsets) -> np.ndarray:
    """When chords are struck: of the sorted distinct note ``onsets`` (s), each more than
    :data:`CHORD` after the last one kept (an asynchronous chord's lagging notes belong to its first)."""
    kept: list[float] = []
    for t in np.unique(np.asarray(onsets, dtype=float)):
        if not kept or t - kept[-1] > CHORD:
            kept.append(float(t))
    return np.array(kept)


def chord_onsets(onsets) -> np.ndarray:
    """Of note ``onsets`` (s), those of notes whose chord is struck alone: no other chord
    (:func:`struck`) within :data:`SEPARATION` of its own."""
    onsets = np.asarray(onsets, dtype=float)
    chords = struck(onsets)
    if not len(chords):
        return onsets
    alone = np.ones(len(chords), dtype=bool)
    gaps = np.diff(chords) < SEPARATION
    alone[1:] &= ~gaps
    alone[:-1] &= ~gaps
    at = np.searchsorted(chords, onsets + 0.001, side="right") - 1
    return onsets[alone[at]]


def measure_onsets(measure_onsets, note_onsets) -> np.ndarray:
    """Of ``measure_onsets`` (s), those where a note whose chord is struck alone begins (within
    1 ms of one of :func:`chord_onsets` of ``note_onsets``)."""
    starts, notes = np.asarray(measure_onsets, dtype=float), chord_onsets(note_onsets)
    if not len(notes):
        return starts[:0]
    return starts[(np.abs(starts[:, None] - notes[None, :]) <= 0.001).any(axis=1)]


class OnsetChecks:
    """Accumulates :meth:`add` per example; :meth:`finish` gives the note and measure onset checks."""

    def __init__(self) -> None:
        self.notes: list[np.ndarray] = []
        self.measures: list[np.ndarray] = []
        self.worst: list[tuple[float, str]] = []

    def add(self, ex: Row) -> None:
        flux = Flux(ex.samples, ex.rate)
        onsets = np.array([n["onset"] for n in ex.row["notes"]], dtype=float)
        chords = struck(onsets)
        notes = flux.errors(chord_onsets(onsets), chords)
        self.notes.append(notes)
        self.measures.append(flux.errors(measure_onsets([m["onset"] for m in ex.row["measures"]], onsets), chords))
        if len(notes):
            self.worst.append((float(np.percentile(np.abs(notes), 95)), ex.where))

    def finish(self) -> list[Check]:
        checks = []
        for name, parts in (("note_onsets", self.notes), ("measure_onsets", self.measures)):
            errors = np.concatenate(parts) if parts else np.zeros(0)
            figures = spread(np.abs(errors), 1000)
            check = Check("audio", name, f"p95 of |detected - labelled| onset <= {MAX_P95_MS:g} ms", figures={
                "onsets": len(errors),
                "median_ms": spread(errors, 1000)["median"],
                "p95_abs_ms": figures["p95"],
                "within_30ms": round(float((np.abs(errors) <= TOLERANCE).mean()), 4) if len(errors) else None,
            })
            if not len(errors) or figures["p95"] > MAX_P95_MS:
                check.passed = False
                if name == "note_onsets":
                    for p95, where in sorted(self.worst, reverse=True)[:3]:
                        check.problems.append(f"{where}: p95 {p95 * 1000:.0f} ms")
            checks.append(check)
        return checks
