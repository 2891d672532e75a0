"""dynamics: every note's MIDI velocity from the score's dynamic marks, hairpins and accents.

Verovio's MIDI plays every note at one velocity (90); this module reads the marks from Verovio's
MEI and gives each performed note the velocity a player would, by the velocity curve
:data:`LEVELS` (pp = 36 ... ff = 104):

- a dynamic mark (``<dynam>`` ppp ... fff, where it stands: ``@tstamp`` in its measure, or the
  note ``@startid`` names) sets the level from there on, in the order the performance plays it
  (after a repeat, the last mark played holds). A mark applies to every staff: piano music writes
  it once, between the hands.
- forzandi (:data:`FORZANDI`: sf, sfz, sffz, fz, rf, rfz, and fp, sfp, fpp...) raise the chord at
  the mark (``boost`` above the level, at least ``floor``); fp and sfp then set the level after it.
- a hairpin (``<hairpin>``, or a ``cresc.``/``dim.`` word, which lasts until the next mark) goes
  linearly, in time, from the level where it starts to the next mark's, or one :data:`STEP` up
  (crescendo) or down (diminuendo) where the next mark goes the other way or there is none; after
  its end that level holds until the next mark.
- an accent (``artic="acc"``) adds :data:`ACCENT`, a marcato (``"marc"``) :data:`MARCATO`.
- each note then varies by a normal draw of ``spread`` velocity units (seeded by the score id, in
  the notes' playing order), and is kept within 1-127.

A score without marks plays at mf (72) with that variation.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..config import ParseConfig
from ..records import Performed, PerformedNote
from .notes import MEI, XML_ID

LEVELS = {"pppp": 16, "ppp": 24, "pp": 36, "p": 48, "mp": 60, "mf": 72, "f": 88, "ff": 104, "fff": 116, "ffff": 124}
DEFAULT = LEVELS["mf"]  # before the first mark
# mark -> (velocity added to the level in effect, the least the chord at the mark gets, the level after it or None)
FORZANDI = {
    **{mark: (24, "f", None) for mark in ("sf", "sfz", "fz", "rf", "rfz")},
    **{mark: (32, "ff", None) for mark in ("sffz", "ffz", "sfff", "sfffz")},
    "fp": (0, "f", "p"), "fpp": (0, "f", "pp"), "sfp": (24, "f", "p"), "sfpp": (24, "f", "pp"), "sfzp": (24, "f", "p"),
}
STEP = 12  # velocity a hairpin moves without a mark to reach: about one level of LEVELS
ACCENT = 12  # added to an accented note (>)
MARCATO = 20  # added to a marcato note (^)
NOW = 0.01  # seconds: a note this close to a mark's time is at the mark
_WORDS = re.compile(r"[a-z]+\.?")
_HAIRPIN_WORDS = {"cresc": 1, "crescendo": 1, "dim": -1, "diminuendo": -1, "decresc": -1, "decrescendo": -1}


@dataclass(frozen=True)
class Marks:
    """The performed dynamics of a score, in seconds of its performance."""

    levels: tuple[tuple[float, int], ...]  # (time, velocity) from where each level holds, by time
    forzandi: tuple[tuple[float, int, int], ...]  # (time, boost, floor) of each forzando, by time
    hairpins: tuple[tuple[float, float, int], ...]  # (start, end, +1 crescendo / -1 diminuendo), by start
    accents: dict[str, int]  # engraved note id -> velocity added
    fermatas: frozenset[str]  # engraved ids of the notes under a fermata


def score_marks(
    mei: ET.Element, notes: Sequence[PerformedNote], performance: Sequence[Performed], score_id: str, cfg: ParseConfig
) -> tuple[tuple[PerformedNote, ...], frozenset[str]]:
    """``notes`` with the velocity their marks in ``mei`` give them (see the module; unchanged when
    ``cfg.dynamics`` is false), and the engraved ids of the notes under a fermata (``<fermata
    @startid>`` naming a note or chord; one on a rest or a barline names no note).

    Parameters
    ----------
    mei : Verovio's MEI of the score (``toolkit.getMEI()``), parsed
    notes : the performed notes (playing order), engraved ids from the same MEI
    performance : the performed measures (their engraved ids and times place ``@tstamp`` marks)
    score_id : seeds the per-note variation (``cfg.velocity_spread`` velocity units, 0: none)
    """
    marks = read_marks(mei, notes, performance)
    if not cfg.dynamics:
        return tuple(notes), marks.fermatas
    return apply_marks(marks, notes, score_id, cfg.velocity_spread), marks.fermatas


def apply_marks(marks: Marks, notes: Sequence[PerformedNote], score_id: str, spread: float) -> tuple[PerformedNote, ...]:
    """``notes`` with the velocities of ``marks``, each varied by a normal draw of ``spread``
    velocity units seeded by ``score_id``."""
    seed = int.from_bytes(hashlib.sha256(f"dynamics:{score_id}".encode()).digest()[:8], "big")
    jitter = np.random.default_rng(seed).normal(0.0, spread, len(notes)) if spread > 0 else np.zeros(len(notes))
    at = velocities_at(marks, sorted({n.onset for n in notes}))
    out = []
    for note, noise in zip(notes, jitter):
        velocity = at[note.onset] + marks.accents.get(note.engraved_id, 0)
        out.append(replace(note, velocity=int(min(127, max(1, round(velocity + noise))))))
    return tuple(out)


def velocities_at(marks: Marks, onsets: Sequence[float]) -> dict[float, float]:
    """The velocity the marks give a note beginning at each of the sorted ``onsets`` (before
    accents and variation); a forzando raises the first chord at or after it (onsets within :data:`NOW`)."""
    level_times = [t for t, _ in marks.levels]
    starts = [h[0] for h in marks.hairpins]
    forced: dict[float, list[tuple[int, int]]] = {}
    for time, boost, floor in marks.forzandi:
        j = bisect.bisect_left(onsets, time - NOW)
        for k in range(j, bisect.bisect_right(onsets, onsets[j] + NOW) if j < len(onsets) else j):
            forced.setdefault(onsets[k], []).append((boost, floor))
    velocities = {}
    for time in onsets:
        i = bisect.bisect_right(level_times, time + NOW) - 1
        since, level = marks.levels[i] if i >= 0 else (-np.inf, DEFAULT)
        velocity = float(level)
        h = bisect.bisect_right(starts, time + NOW) - 1
        if h >= 0 and starts[h] >= since:  # a hairpin started after the last mark
            start, end, direction = marks.hairpins[h]
            later = bisect.bisect_right(level_times, start + NOW)
            following = marks.levels[later][1] if later < len(marks.levels) else None
            target = following if following is not None and (following - level) * direction > 0 else level + direction * STEP
            fraction = min(1.0, max(0.0, (time - start) / (end - start))) if end > start else 1.0
            velocity = level + (target - level) * fraction
        for boost, floor in forced.get(time, ()):
            velocity = max(velocity + boost, floor)
        velocities[time] = velocity
    return velocities


def read_marks(root: ET.Element, notes: Sequence[PerformedNote], performance: Sequence[Performed]) -> Marks:
    """Every dynamic mark, forzando, hairpin and accent of the MEI ``root``, at each time the performance plays it."""
    instances: dict[str, list[int]] = {}  # engraved measure id -> performed indices
    for p, performed in enumerate(performance):
        instances.setdefault(performed.engraved_id, []).append(p)
    onsets: dict[str, list[float]] = {}  # engraved note id -> performed onsets
    for note in notes:
        onsets.setdefault(note.engraved_id, []).append(note.onset)
    members: dict[str, list[str]] = {}  # chord id -> its notes' ids
    accents: dict[str, int] = {}
    fermatas: set[str] = set()
    levels, forzandi, hairpins, words = [], [], [], []
    beats = 4.0
    for element in root.iter():
        tag = element.tag.removeprefix(MEI)
        if tag in ("scoreDef", "staffDef") and element.get("meter.count"):
            beats = _number(element.get("meter.count"), beats)
        elif tag == "meterSig" and element.get("count"):
            beats = _number(element.get("count"), beats)
        elif tag == "chord":
            members[element.get(XML_ID, "")] = [n.get(XML_ID, "") for n in element.iter(f"{MEI}note")]
        elif tag == "measure":
            measure_id = element.get(XML_ID, "")
            for control in element:
                kind = control.tag.removeprefix(MEI)
                if kind not in ("dynam", "hairpin"):
                    continue
                for p in instances.get(measure_id, ()):
                    start = _start(control, performance[p], beats, onsets, members)
                    if start is None:
                        continue
                    if kind == "hairpin":
                        end = _end(control, p, start, performance, beats, onsets, members)
                        hairpins.append((start, end, 1 if control.get("form") == "cres" else -1))
                    else:
                        _read_dynam(" ".join("".join(control.itertext()).split()).lower(), start, levels, forzandi, words)
        if tag == "fermata" and element.get("startid"):
            target = element.get("startid", "").lstrip("#")
            fermatas.update(members.get(target, [target]))
        if tag in ("note", "chord"):
            added = max((_accent(a) for a in _artics(element)), default=0)
            if added:
                for note_id in [element.get(XML_ID, "")] + [n.get(XML_ID, "") for n in element.iter(f"{MEI}note")]:
                    accents[note_id] = max(accents.get(note_id, 0), added)
    levels.sort()
    for start, direction in words:  # a cresc./dim. word lasts until the next level mark
        later = [t for t, _ in levels if t > start + NOW]
        if later:
            hairpins.append((start, later[0], direction))
    return Marks(tuple(levels), tuple(sorted(forzandi)), tuple(sorted(hairpins)), accents, frozenset(fermatas))


def _read_dynam(text: str, time: float, levels: list, forzandi: list, words: list) -> None:
    """The first mark a ``<dynam>``'s text names (``p dolce``: p; ``sfz``; ``cresc.``)."""
    for word in _WORDS.findall(text):
        word = word.rstrip(".")
        if word in LEVELS:
            levels.append((time, LEVELS[word]))
            return
        if word in FORZANDI:
            boost, floor, after = FORZANDI[word]
            forzandi.append((time, boost, LEVELS[floor]))
            if after:
                levels.append((time + 2 * NOW, LEVELS[after]))  # from just after the chord at the mark
            return
        if word in _HAIRPIN_WORDS:
            words.append((time, _HAIRPIN_WORDS[word]))
            return


def _artics(element: ET.Element) -> list[str]:
    """The articulations an MEI note or chord carries itself (``@artic`` or its ``<artic>`` children)."""
    found = (element.get("artic") or "").split()
    for child in element:
        if child.tag == f"{MEI}artic":
            found += (child.get("artic") or "").split()
    return found


def _accent(artic: str) -> int:
    return {"acc": ACCENT, "acc-soft": ACCENT, "marc": MARCATO}.get(artic, 0)


def _start(control: ET.Element, measure: Performed, beats: float, onsets: dict, members: dict) -> float | None:
    """Seconds where a control event of a performed ``measure`` stands: the onset within it of the
    note (or chord) its ``@startid`` names, else its ``@tstamp`` (beats from 1) as a fraction of the
    measure's length; None when it says neither."""
    ids = members.get((control.get("startid") or "").lstrip("#"), [(control.get("startid") or "").lstrip("#")])
    times = [t for i in ids for t in onsets.get(i, ()) if measure.onset - NOW <= t < measure.offset]
    if times:
        return min(times)
    tstamp = _number(control.get("tstamp"), None)
    return None if tstamp is None else _beat(measure, tstamp, beats)


def _end(
    control: ET.Element, p: int, start: float, performance: Sequence[Performed], beats: float, onsets: dict, members: dict
) -> float:
    """Seconds where a hairpin starting at ``start`` in performed measure ``p`` ends: the first
    onset of its ``@endid`` note from there, else ``@tstamp2`` (``"2m+1"``: beat 1 two measures
    on), else the end of its measure."""
    ids = members.get((control.get("endid") or "").lstrip("#"), [(control.get("endid") or "").lstrip("#")])
    times = [t for i in ids for t in onsets.get(i, ()) if t >= start]
    if times:
        return min(times)
    later, plus, beat = (control.get("tstamp2") or "").rpartition("m+")
    tstamp = _number(beat, None)
    if tstamp is None:
        return max(start, performance[p].offset)
    measure = performance[min(p + (int(later) if plus and later.isdigit() else 0), len(performance) - 1)]
    return max(start, _beat(measure, tstamp, beats))


def _beat(measure: Performed, tstamp: float, beats: float) -> float:
    """Seconds of beat ``tstamp`` (from 1) of a measure of ``beats`` beats."""
    fraction = min(1.0, max(0.0, (tstamp - 1.0) / beats)) if beats > 0 else 0.0
    return measure.onset + fraction * (measure.offset - measure.onset)


def _number(text: str | None, default):
    try:
        return float(text)
    except (TypeError, ValueError):
        return default
