"""performance: how one rendition plays a page visit, the times every row and the audio share.

A constant rendition plays the visit's notes as the score's MIDI times them, divided by its tempo
ratio. An expressive one (``Rendition.expressive``, configured by ``[render.expressive]``) plays
them as a simple performance model does, seeded by the score id, the visit and the rendition:

- **tempo**: the rendition's tempo ratio times a smooth curve, the exponential of an AR(1)
  sequence (coefficient 0.6, standard deviation ``tempo_sd``) drawn at every measure's start and
  interpolated linearly in between;
- **phrase-final ritardando**: a phrase is ``phrase_measures`` performed measures, counted from the
  score's first; over the last measure of each the tempo falls as ``1 - depth * s**2`` (``s`` from
  0 to 1 across the measure, ``depth`` drawn from ``ritardando`` x [0.5, 1.5], twice that over the
  score's last measure), and the next phrase starts a tempo;
- **fermatas**: a note under a fermata (``Score.fermatas``; in a unison, the voice that sounds,
  whichever carries the fermata) and everything sounding meanwhile last ``fermata_hold`` times
  as long;
- **chord asynchrony**: at each onset of two notes or more (grace notes aside), the highest note
  (the melody) sounds on time and the others lag it by a uniform draw of 25-100 % of
  ``asynchrony_ms``, never past the next measure's start or their own end;
- **voicing and phrasing**: that highest note gains ``melody_velocity / 2`` and the others lose as
  much; every velocity is scaled by ``1 + phrase_arch * (sin(pi * x) - 2 / pi)``, ``x`` the
  position in its phrase (0-1), which swells to the phrase's middle and keeps the mean;
- **sustain pedal**, where the score's MIDI has none: down 40 ms (at most a quarter of the
  measure) after each measure's start, up at the next measure's start (legato pedalling, one
  change per measure), on every channel the passage plays.

The notes' times are then rounded to the passage MIDI's tick grid (1/1920 s): the rows' note
times are those of the MIDI that is synthesised, and a measure's onset lies within half a tick
of the note-on of a note that begins it.
"""

from __future__ import annotations

import bisect
import hashlib
import math

import numpy as np

from ..audio.midi import TICKS_PER_SECOND, Control, Note, PassageEvent, passage_controls, passage_events
from ..config import ExpressiveConfig, RenderConfig
from ..records import Played, Rendition, Score, Visit
from .align import visit_notes

SUSTAIN = 64  # MIDI controller number of the sustain pedal
PEDAL_DELAY_S = 0.04  # the pedal goes down this long after a measure starts
PEDAL_LIFT_S = 0.05  # and up this long before it ends, so the next downbeat is struck on damped strings
AR = 0.6  # correlation of the tempo curve's log from one measure to the next
STEP_S = 0.005  # seconds of score time between the points the tempo curve is integrated at


def perform(score: Score, visit: Visit, rendition: Rendition, cfg: RenderConfig) -> tuple[Played, list[PassageEvent]]:
    """The passage events of ``visit`` as ``rendition`` plays it, and their times and velocities
    (a measure's and a note's, on the tick grid) for the rows."""
    notes = visit_notes(score, visit)
    performed = [score.performance[i] for i in visit.measures]
    length = visit.end - visit.start
    onsets = [p.onset - visit.start for p in performed]
    measure_of = [max(0, bisect.bisect_right(onsets, n.onset - visit.start + 1e-6) - 1) for n in notes]
    if rendition.expressive:
        rng = np.random.default_rng(_seed(score, visit, rendition))
        model = cfg.expressive
        clock = _tempo_curve(score, visit, notes, onsets, length, rendition.tempo_ratio, model, rng)
    else:
        model, rng = None, None

        def clock(u: np.ndarray) -> np.ndarray:
            return u / rendition.tempo_ratio

    def played_at(seconds: list[float]) -> list[float]:
        """Passage seconds of score ``seconds`` (from the start of the score)."""
        return clock(np.array(seconds, dtype=float) - visit.start).tolist()

    starts = played_at([p.onset for p in performed])
    ends = played_at([p.offset for p in performed])
    end = _on_the_grid(played_at([visit.end])[0])  # the last measure's offset
    note_on = played_at([n.onset for n in notes])
    note_off = played_at([min(n.offset, visit.end) for n in notes])
    played = [Note(n.channel, n.key, n.velocity, a, b) for n, a, b in zip(notes, note_on, note_off)]
    carried = passage_controls(score.midi, visit.start, visit.end)
    controls = [Control(c.channel, c.control, c.value, t) for c, t in zip(carried, played_at([c.time for c in carried]))]
    if model is not None:
        played = _shape(notes, played, measure_of, visit, onsets, length, ends, model, rng, len(score.performance))
        if model.pedal and not any(c.control == SUSTAIN for c in score.midi.controls):
            controls = sorted(controls + _pedal(starts, ends, {n.channel for n in notes} or {0}), key=lambda c: c.time)
    order = sorted(range(len(played)), key=lambda i: (played[i].onset, played[i].channel, played[i].key))
    events, ticks = passage_events([played[i] for i in order], controls, end)
    note_ticks = [(0, 0)] * len(played)
    for i, t in zip(order, ticks):
        note_ticks[i] = t
    tempo = tuple(
        (p.offset - p.onset) / (b - a) if model is not None and b > a else rendition.tempo_ratio
        for p, a, b in zip(performed, starts, ends)
    )
    return (
        Played(
            measures=tuple((_on_the_grid(a), _on_the_grid(b)) for a, b in zip(starts, ends)),  # as the notes are
            notes=tuple((on / TICKS_PER_SECOND, off / TICKS_PER_SECOND, n.velocity) for (on, off), n in zip(note_ticks, played)),
            tempo=tempo,
            end=end,
        ),
        events,
    )


def _on_the_grid(seconds: float) -> float:
    """``seconds`` on the passage MIDI's tick grid, where its notes lie (a note that begins in a
    measure still does once both are rounded)."""
    return round(seconds * TICKS_PER_SECOND) / TICKS_PER_SECOND


def _seed(score: Score, visit: Visit, rendition: Rendition) -> int:
    name = f"perform:{score.ref.score_id}#p{visit.page}v{visit.index}:{rendition.soundfont}@{rendition.tempo_ratio:g}"
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


def _tempo_curve(score, visit, notes, onsets, length, ratio, model: ExpressiveConfig, rng):
    """Score seconds from the visit's start (``u``, an array) to passage seconds: the integral of
    1 / tempo, tempo = ``ratio`` x the smooth curve x the ritardandi x the fermatas."""
    knots = np.array([*onsets, length])
    walk = np.zeros(len(knots))
    walk[0] = rng.normal(0.0, model.tempo_sd)
    for k in range(1, len(knots)):
        walk[k] = AR * walk[k - 1] + math.sqrt(1 - AR**2) * rng.normal(0.0, model.tempo_sd)
    last = len(score.performance) - 1
    ritardandi = []  # (start, end, depth) in u
    for j, i in enumerate(visit.measures):
        depth = model.ritardando * rng.uniform(0.5, 1.5) * (2.0 if i == last else 1.0)
        if (i + 1) % model.phrase_measures == 0 or i == last:
            ritardandi.append((knots[j], knots[j + 1], min(depth, 0.6)))
    held = []  # fermata spans in u
    marked = {(n.channel, n.key, n.onset) for n in notes if n.engraved_id in score.fermatas}
    for n in notes:  # a unison's voices sound as its longer note (the timeline leaves the other no length)
        if (n.channel, n.key, n.onset) in marked and n.offset > n.onset:
            held.append((n.onset - visit.start, min(n.offset, visit.end) - visit.start))
    bounds = [b for span in held for b in span] + [b for r in ritardandi for b in r[:2]]
    u = np.unique(np.concatenate([np.linspace(0.0, length, max(2, int(length / STEP_S) + 1)), knots, bounds]))
    mid = (u[:-1] + u[1:]) / 2
    tempo = ratio * np.exp(np.interp(mid, knots, walk))
    for a, b, depth in ritardandi:
        inside = (mid >= a) & (mid < b)
        tempo[inside] *= 1.0 - depth * ((mid[inside] - a) / (b - a)) ** 2 if b > a else 1.0
    under = np.zeros(len(mid), dtype=bool)  # a chord's notes share one fermata: each instant is held once
    for a, b in held:
        under |= (mid >= a) & (mid < b)
    tempo[under] /= model.fermata_hold
    at = np.concatenate([[0.0], np.cumsum(np.diff(u) / tempo)])

    def clock(seconds: np.ndarray) -> np.ndarray:
        return np.interp(seconds, u, at)

    return clock


def _shape(notes, played, measure_of, visit, onsets, length, ends, model: ExpressiveConfig, rng, measures: int) -> list[Note]:
    """Voicing, phrasing and asynchrony: each of ``played`` with its velocity and onset as played."""
    groups: dict[float, list[int]] = {}
    for i, n in enumerate(notes):
        if not n.grace:
            groups.setdefault(round(n.onset, 4), []).append(i)
    voice = [0.0] * len(notes)
    lag = [0.0] * len(notes)
    for members in groups.values():
        if len(members) < 2:
            continue
        top = max(members, key=lambda i: (notes[i].key, -i))
        for i in members:
            voice[i] = model.melody_velocity / 2 if i == top else -model.melody_velocity / 2
            if i != top:
                lag[i] = rng.uniform(0.25, 1.0) * model.asynchrony_ms / 1000
    bounds = [*onsets, length]
    shaped = []
    for i, (n, p) in enumerate(zip(notes, played)):
        j = measure_of[i]
        span = bounds[j + 1] - bounds[j]
        within = (n.onset - visit.start - bounds[j]) / span if span > 0 else 0.0
        x = ((visit.measures[j] % model.phrase_measures) + min(max(within, 0.0), 1.0)) / model.phrase_measures
        velocity = (p.velocity + voice[i]) * (1 + model.phrase_arch * (math.sin(math.pi * x) - 2 / math.pi))
        latest = min(ends[j], p.offset) - 2 / TICKS_PER_SECOND  # stays in its measure, before its own end
        onset = max(p.onset, min(p.onset + lag[i], latest))
        shaped.append(Note(p.channel, p.key, int(min(127, max(1, round(velocity)))), onset, p.offset))
    return shaped


def _pedal(starts: list[float], ends: list[float], channels: set[int]) -> list[Control]:
    """Sustain pedal down just after each measure starts and up just before it ends, on ``channels``."""
    pedal = []
    for a, b in zip(starts, ends):
        down = a + min(PEDAL_DELAY_S, (b - a) / 4)
        up = max(down, b - min(PEDAL_LIFT_S, (b - a) / 4))
        for channel in sorted(channels):
            pedal.append(Control(channel, SUSTAIN, 127, down))
            pedal.append(Control(channel, SUSTAIN, 0, up))
    return pedal
