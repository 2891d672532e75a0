"""voices: where each note stands in its measure by the MusicXML's durations, voice by voice.

Verovio times the notes within a measure from their note types and tuplet markup, which real files
often get wrong while their ``<duration>`` values are right: triplets marked by
``<time-modification>`` alone are played as plain eighths, a ``<forward>`` that fills a voice is
dropped. The measure itself is retimed from the MusicXML (:mod:`.timeline`); this module places
its notes within it.

Verovio's MEI keeps each MusicXML ``<voice>`` as a ``<layer>`` numbered as the voice (a
cross-staff note stays in its voice's layer; rests and ``<forward>``s become rests and spaces),
so the notes and chords of a layer are those of one MusicXML voice, in the same order. A layer is
paired with the voice whose written pitches, chord by chord, are the same: the voice of one part
(a cross-staff voice as one), or of one part on one staff (where an exporter numbers the voices
of each staff from 1). Of several such voices, the one numbered as the layer is, and of those the
one whose chords lie nearest to where Verovio plays the layer's (voices of the same pitches in
different parts, such as a chorale's doubled lines).

Each chord of a paired layer then gives an anchor: the share of Verovio's measure at which its
beat lies in Verovio's clock, and the quarters at which the MusicXML puts it; each chord's end
gives another where it fits between them (not the end of a chord that grace notes follow, which
Verovio shortens, nor one at the measure's end). Its beat is where Verovio plays it, or where
Verovio begins what delays it: an arpeggio it is part of (over both staves too), or grace notes
before it that Verovio plays on the beat (appoggiaturas, and any grace notes at the start of a
measure; not an acciaccatura, which takes its time from what comes before), so that these keep
their shape around the beat. A note of the layer (grace notes and the notes Verovio adds for
ornaments included) is placed by interpolating between its layer's anchors, and a tie into the
measure by its voice's anchors there (:mod:`.timeline`). A layer that is not paired, whose
anchors do not run forwards in both clocks, or whose voice has a chord at or past the measure's
end keeps Verovio's placing, scaled onto the measure's real length.
"""

from __future__ import annotations

import bisect
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from ..audio.midi import TempoMap
from ..records import Layer, Performed
from ..timing.musicxml import XmlNote
from .notes import MEI, XML_ID

Anchors = tuple[tuple[float, float], ...]  # (share of Verovio's measure, quarters of the written measure), both increasing


def read_layers(
    root: ET.Element, timemap: list[dict], tempo: TempoMap, performance: Sequence[Performed]
) -> dict[str, tuple[Layer, ...]]:
    """The layers of every measure of Verovio's MEI (parsed: its ``root``), by measure id, each
    chord timed by its first performance in ``timemap`` (played order, its ``qstamp`` through
    ``tempo``) as a share of the performed measure it begins in (``performance``)."""
    played: dict[str, int] = {}  # note or rest id -> the performed measure of its first performance
    starts: dict[str, float] = {}  # note or rest id -> seconds, its first performance
    ends: dict[str, float] = {}
    p = -1
    for event in timemap:
        time = tempo.seconds_at_quarter(event["qstamp"])
        for item in (*event.get("off", ()), *event.get("restsOff", ())):
            ends.setdefault(item, time)
        if "measureOn" in event:
            p += 1
        for item in (*event.get("on", ()), *event.get("restsOn", ())):
            if p >= 0 and item not in played:
                played[item], starts[item] = p, time

    def share(item: str, time: float) -> float:
        measure = performance[played[item]]
        span = measure.offset - measure.onset
        return (time - measure.onset) / span if span > 0 else math.nan

    def onset(ids: Sequence[str]) -> float:
        timed = [item for item in ids if item in starts]
        first = min(timed, key=starts.__getitem__) if timed else None
        return share(first, starts[first]) if first is not None else math.nan

    def end(ids: Sequence[str]) -> float:
        item = next((item for item in ids if item in ends and item in played), None)
        return share(item, ends[item]) if item is not None else math.nan

    def beat(chord: _Chord, rolled: dict[str, list[str]]) -> float:
        """Where Verovio's clock puts a chord's beat: where its first note begins, or the first
        note of an arpeggio it is part of (``rolled``: the notes of each note's arpeggio, over
        staves); where grace notes before it begin if Verovio plays them on the beat, delaying
        the chord: if they begin once what comes before in the layer has ended (an appoggiatura;
        any grace note at the start of a measure), or, where that end is not known (after a
        space), unless they are acciaccaturas, which Verovio plays before the beat."""
        own = onset([member for note in chord.ids for member in rolled.get(note, (note,))])
        ornament = onset(chord.graces[:1])
        if not ornament <= own:  # no grace note, or one Verovio does not play before the chord
            return own
        previous = end(chord.before) if chord.before else 0.0
        if math.isnan(previous):
            return own if chord.grace_kind == "unacc" else ornament
        return own if ornament < previous - 1e-9 else ornament

    layers: dict[str, tuple[Layer, ...]] = {}
    for measure in root.iter(f"{MEI}measure"):
        found = []
        rolled = _arpeggios(measure)
        for staff in measure.iterfind(f"{MEI}staff"):
            for layer in staff.iterfind(f"{MEI}layer"):
                chords, graces = _chords(layer)
                found.append(Layer(
                    staff=staff.get("n", ""),
                    n=layer.get("n", ""),
                    notes=tuple(chord.ids for chord in chords),
                    pitches=tuple(chord.pitches for chord in chords),
                    onsets=tuple(beat(chord, rolled) for chord in chords),
                    # Verovio shortens a chord that grace notes follow: its end is no anchor
                    ends=tuple(math.nan if chord.ornamented else end(chord.ids) for chord in chords),
                    graces=graces,
                ))
        layers[measure.get(XML_ID, "")] = tuple(found)
    return layers


def _arpeggios(measure: ET.Element) -> dict[str, list[str]]:
    """For each note of an arpeggio of ``measure`` (an ``<arpeg>`` over notes or chords, on one
    staff or several), the ids of all the arpeggio's notes."""
    notes_of = {chord.get(XML_ID, ""): [n.get(XML_ID, "") for n in chord.iter(f"{MEI}note")]
                for chord in measure.iter(f"{MEI}chord")}
    rolled: dict[str, list[str]] = {}
    for arpeggio in measure.iter(f"{MEI}arpeg"):
        refs = (arpeggio.get("plist") or arpeggio.get("startid") or "").split()
        members = [n for ref in refs for n in notes_of.get(ref.lstrip("#"), [ref.lstrip("#")])]
        rolled.update((n, members) for n in members)
    return rolled


@dataclass
class _Chord:
    """A note or chord of a layer, with what lies before it there."""

    ids: tuple[str, ...]
    pitches: tuple[str, ...]  # written, sorted
    graces: tuple[str, ...]  # the grace notes just before it
    grace_kind: str  # the first one's @grace ("unacc": an acciaccatura)
    before: tuple[str, ...]  # the note, chord, rest or space before those
    ornamented: bool = False  # grace notes follow it


def _chords(layer: ET.Element) -> tuple[list[_Chord], tuple[str, ...]]:
    """The notes and chords of ``layer`` in order, and the ids of its grace notes."""
    chords: list[_Chord] = []
    graces: list[str] = []
    waiting: list[tuple[str, str]] = []  # (id, kind) of the grace notes since the last item
    before: tuple[str, ...] = ()
    for kind, elements in _items(layer, ""):
        ids = tuple(element.get(XML_ID, "") for element in elements)
        if kind == "rest":
            before, waiting = ids, []
        elif kind:
            graces.extend(ids)
            waiting.extend((i, kind) for i in ids)
            if chords and chords[-1].ids == before:
                chords[-1].ornamented = True
        elif ids:
            first = waiting[0][1] if waiting else ""
            chords.append(_Chord(ids, tuple(sorted(_written(e) for e in elements)), tuple(i for i, _ in waiting), first, before))
            before, waiting = ids, []
    return chords, tuple(graces)


def _items(element: ET.Element, grace: str):
    """(grace kind, "" for none, "rest" for a rest or space; the notes or the rest) of every
    note, chord, rest and space under ``element``, in order."""
    for child in element:
        tag = child.tag.removeprefix(MEI)
        kind = child.get("grace") or grace
        if tag == "note":
            yield kind, [child]
        elif tag == "chord":
            yield kind, list(child.iter(f"{MEI}note"))
        elif tag in ("rest", "space", "mRest", "mSpace", "multiRest"):
            yield "rest", [child]
        elif tag in ("graceGrp", "beam", "tuplet", "fTrem", "bTrem", "ligature"):
            yield from _items(child, kind or ("unknown" if tag == "graceGrp" else ""))


def _written(note: ET.Element) -> str:
    """A note's written pitch as the MusicXML spells it (step and octave: "C4"); its sounding
    octave where an octave line shifts it, as MusicXML's ``<pitch>`` is."""
    return (note.get("pname") or "").upper() + (note.get("oct.ges") or note.get("oct") or "")


@dataclass(frozen=True)
class Placing:
    """Where a measure's notes go: the anchors of each of its layers paired with a MusicXML voice,
    by (staff, layer n), and that key of every note and grace note of those layers, by id."""

    anchors: dict[tuple[str, str], Anchors]
    voice: dict[str, tuple[str, str]]


def written_places(layers: Sequence[Layer], notes: Sequence[XmlNote], length: float) -> Placing:
    """Pair ``layers`` (an engraved measure's) with the voices of ``notes`` (the MusicXML
    measure's, ``length`` quarters long) and anchor each paired layer."""
    voices: dict[tuple, list[XmlNote]] = {}
    for note in notes:
        voices.setdefault((note.part, note.voice), []).append(note)
        voices.setdefault((note.part, note.voice, note.staff), []).append(note)
    by_pitches: dict[tuple, list[tuple[int, list[XmlNote]]]] = {}
    for key, voice in voices.items():
        by_pitches.setdefault(tuple(note.pitches for note in voice), []).append((key[1], voice))
    placing = Placing({}, {})
    for layer in layers:
        candidates = by_pitches.get(layer.pitches)
        if not candidates:
            continue
        _, voice = min(candidates, key=lambda c: (str(c[0]) != layer.n, _misfit(layer, c[1], length)))
        anchors = _anchors(layer, voice, length)
        if anchors:
            key = (layer.staff, layer.n)
            placing.anchors[key] = anchors
            placing.voice.update((note, key) for ids in layer.notes for note in ids)
            placing.voice.update((note, key) for note in layer.graces)
    return placing


def _misfit(layer: Layer, voice: Sequence[XmlNote], length: float) -> float:
    """How far, in quarters in all, the voice's chords lie from where Verovio plays the layer's."""
    return sum(abs(u * length - note.at) for u, note in zip(layer.onsets, voice) if math.isfinite(u))


def _anchors(layer: Layer, voice: Sequence[XmlNote], length: float) -> Anchors:
    """The layer's anchors: each chord's onset, both clocks strictly increasing inside the measure
    (else none); then the measure's start, each chord's end and the measure's end, each where it
    keeps them so."""
    points = [(u, note.at) for u, note in zip(layer.onsets, voice) if math.isfinite(u)]
    if not points or any(not (0.0 <= u <= 1.0 and 0.0 <= q < length) for u, q in points):
        return ()
    if any(u1 <= u0 or q1 <= q0 for (u0, q0), (u1, q1) in zip(points, points[1:])):
        return ()
    # an end with the measure's is the measure's end in both clocks: what Verovio plays after it still begins inside
    ends = [(u, note.at + note.duration) for u, note in zip(layer.ends, voice)
            if math.isfinite(u) and note.at + note.duration < length]
    for u, q in [(0.0, 0.0), *ends, (1.0, length)]:
        i = bisect.bisect_left(points, (u, q))
        before, after = points[i - 1] if i > 0 else None, points[i] if i < len(points) else None
        if (before is None or (u > before[0] and q > before[1])) and (after is None or (u < after[0] and q < after[1])):
            points.insert(i, (u, q))
    return tuple(points)


def place(anchors: Anchors, u: float) -> float:
    """Quarters into the written measure of the share ``u`` of Verovio's measure: linear between
    the anchors around it, the nearest anchor's beyond them."""
    i = bisect.bisect_right(anchors, (u, math.inf))
    if i == 0:
        return anchors[0][1]
    if i == len(anchors):
        return anchors[-1][1]
    (u0, q0), (u1, q1) = anchors[i - 1], anchors[i]
    return q0 + (u - u0) / (u1 - u0) * (q1 - q0)
