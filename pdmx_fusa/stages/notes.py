"""notes: every note of Verovio's MIDI tied to the engraved note (notehead) that shows it.

Verovio's timemap lists, in played order (repeats unfolded), the id of every engraved note that
starts at each score time, grace notes included (at the times its MIDI gives them); its MIDI file
holds the notes that sound. The two are joined here, note by note, so that each MIDI note gets
the engraved id of its notehead, and keeps the MIDI's key, velocity and channel.

Times: a measure's onset is its timemap position (``qstamp``) through the MIDI's tempo map, and
so is every engraved note's here. Verovio writes its MIDI notes a few ms off that clock at times
(ticks rounded, a tempo change; p95 2 ms, at most 19 ms on the development corpora), enough to put
a downbeat chord before its measure, and at a page turn into the previous page's audio. So each
MIDI note matched ``exact`` (below) is moved onto its engraved note's onset, its offset by as much,
and the other notes of that engraved note (tremolo strokes) with it; a moved note's offset never
passes the next onset of its key it did not reach before. The parse stage then writes exactly
these notes as the MIDI that is synthesised: one clock for measures, notes and audio.

Pitches of engraved notes are read from Verovio's MEI as Verovio computes them for its MIDI
(``@pnum``, else ``@pname``/``@pname.ges``, the gestural or written accidental, ``@oct.ges`` or
``@oct``, plus the staff's ``@trans.semi``): ``toolkit.getMIDIValuesForElement`` would give the
same number, but it searches the whole document on every call (seconds per thousand notes).

Every MIDI note is matched, in passes, each taking only what the ones before left:

1. ``exact``: an engraved note of the same key whose timemap onset lies within ``TOLERANCE``
   (closest pairs first, one MIDI note per engraved note; a tie's continuation only when nothing
   else fits). Nearly every note is matched here.
2. ``held``: a MIDI note that starts while an engraved note of its key is held (from its onset to
   its timemap end, ties followed): a tremolo's repeated strokes, a chord note an arpeggio or an
   appoggiatura delays. It takes that note's id (the latest such note, one not yet matched first).
3. ``drift``: the nearest engraved note of its key not yet matched, within ``DRIFT``: passages
   where Verovio's MIDI and timemap disagree on the timing (hidden tuplets of cue notes).
4. ``ornament``: a note of another key that starts while engraved notes are held: the one of the
   nearest key among the last 64 to start, of its own measure where one is (a trill's or turn's
   auxiliary note, which Verovio may write out; a note Verovio sounds octaves off its MEI pitch,
   asap Debussy, Reflets dans l'eau m. 22, which took a note of the measure before and so a
   notehead outside its measure).
5. ``nearest``: whatever is left takes the engraved note of the nearest onset.

On the embedded default and 59 development scores (136k MIDI notes) every note is ``exact``
but the tremolo strokes of one score (``held``). Engraved notes left without a MIDI note are tied
continuations (played by their first note), notes Verovio plays silently (``@vel="0"``) or not at
all (``@sameas`` copies), and any a later pass did not need.
"""

from __future__ import annotations

import bisect
import math
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import verovio

from ..audio.midi import Midi, Note, TempoMap
from ..records import Performed, PerformedNote
from . import Rejected

MEI = "{http://www.music-encoding.org/ns/mei}"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
TOLERANCE = 0.030  # seconds: a MIDI note-on this close to a timemap onset of its key is that note
DRIFT = 0.5  # seconds: how far apart a MIDI note and its engraved note may be when the two disagree
EPSILON = 1e-6  # seconds: a note this close before a measure's onset begins in it (cut_passage's rule)

_STEPS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
# MEI accidentals as semitones (quarter-tone ones rounded towards natural, as MIDI has none)
_ALTERATIONS = {
    "n": 0, "s": 1, "f": -1, "ss": 2, "x": 2, "ff": -2, "xs": 3, "sx": 3, "ts": 3, "tf": -3,
    "nf": -1, "ns": 1, "su": 1, "sd": 1, "fu": -1, "fd": -1, "nu": 0, "nd": 0,
    "1qf": 0, "3qf": -1, "1qs": 0, "3qs": 1,
}


@dataclass(frozen=True)
class Engraved:
    """What the MEI says of one engraved note."""

    key: int | None  # MIDI pitch as Verovio plays it; None when the MEI gives no pitch
    grace: bool
    tied: bool  # the end of a tie: sounds as part of an earlier note


@dataclass
class _Candidate:
    """One performed instance of an engraved note, from the timemap."""

    id: str  # the notated id (``-rendN`` removed)
    key: int
    onset: float  # seconds through the MIDI's tempo map
    end: float  # its timemap end; a tie's first note: the end of its last continuation
    grace: bool
    tied: bool
    matched: int = 0
    merged: bool = False  # a tie's continuation, its time added to its first note's


@dataclass(frozen=True)
class NoteMatch:
    """The notes of a score and how each was matched (for reports and tests)."""

    notes: tuple[PerformedNote, ...]  # by onset, channel, key (a Midi's order)
    how: tuple[str, ...]  # per note: exact, held, drift, ornament or nearest
    moved: tuple[float, ...]  # per note: seconds it was moved onto its engraved note's onset
    engraved: int  # performed engraved notes the timemap lists
    unplayed: Counter  # engraved notes no MIDI note took: "tie", "other"


def perform_notes(
    toolkit: verovio.toolkit, mei: ET.Element, midi: Midi, performance: tuple[Performed, ...], timemap: list[dict]
) -> tuple[PerformedNote, ...]:
    """Every note of ``midi`` as a :class:`PerformedNote`, by onset: its engraved note's id (of a
    tie's first note), the performed measure its onset lies in, its key, velocity and channel, and
    its onset and offset on the measures' clock (see the module).

    ``mei``: the toolkit's MEI (``toolkit.getMEI()``), parsed; ``timemap``: the timemap
    ``performance`` was read from (its ``qstamp`` are what ``midi``'s tempo map turns into seconds)."""
    return match_notes(toolkit, mei, midi, performance, timemap).notes


def notes_midi(midi: Midi, notes: tuple[PerformedNote, ...]) -> Midi:
    """``midi`` with exactly ``notes`` as its notes: one source of time for audio and labels."""
    ordered = sorted(notes, key=lambda n: (n.onset, n.channel, n.key))
    return replace(midi, notes=tuple(Note(n.channel, n.key, n.velocity, n.onset, n.offset) for n in ordered))


def match_notes(
    toolkit: verovio.toolkit, mei: ET.Element, midi: Midi, performance: tuple[Performed, ...], timemap: list[dict]
) -> NoteMatch:
    """Match every MIDI note to a performed engraved note (see the module's passes)."""
    engraved = read_engraved(mei)
    candidates = timemap_notes(toolkit, midi.tempo, engraved, timemap)
    if midi.notes and not candidates:
        raise Rejected("Verovio's timemap lists no note to match its MIDI's notes with")
    starts = [p.onset - EPSILON for p in performance]
    owner, how = _match(midi.notes, candidates, starts)
    timed = _onto_the_clock(midi.notes, owner, how, candidates)
    found = sorted(
        (
            (
                PerformedNote(
                    engraved_id=candidates[c].id,
                    measure=max(0, bisect.bisect_right(starts, onset) - 1),
                    key=n.key,
                    velocity=n.velocity,
                    channel=n.channel,
                    onset=onset,
                    offset=offset,
                    grace=candidates[c].grace,
                ),
                kind,
                onset - n.onset,
            )
            for n, c, kind, (onset, offset) in zip(midi.notes, owner, how, timed)
        ),
        key=lambda found: (found[0].onset, found[0].channel, found[0].key),
    )
    unplayed = Counter("tie" if c.tied else "other" for c in candidates if not c.matched)
    return NoteMatch(
        tuple(f[0] for f in found), tuple(f[1] for f in found), tuple(f[2] for f in found), len(candidates), unplayed
    )


def _onto_the_clock(
    notes: tuple[Note, ...], owner: list[int], how: list[str], candidates: list[_Candidate]
) -> list[tuple[float, float]]:
    """Each note's (onset, offset) moved by how far its engraved note's exact match lay from that
    note's timemap onset; an offset moved past the next onset of its channel and key (which it
    did not reach before) stops there."""
    shift = {c: candidates[c].onset - n.onset for n, c, kind in zip(notes, owner, how) if kind == "exact"}
    timed = [(n.onset + shift.get(c, 0.0), n.offset + shift.get(c, 0.0)) for n, c in zip(notes, owner)]
    by_key: dict[tuple[int, int], list[int]] = {}
    for i in sorted(range(len(notes)), key=lambda i: timed[i][0]):
        by_key.setdefault((notes[i].channel, notes[i].key), []).append(i)
    for group in by_key.values():
        for at, i in enumerate(group):
            onset, offset = timed[i]
            for j in group[at + 1:]:
                if timed[j][0] >= offset:
                    break
                if notes[i].offset <= notes[j].onset:  # it did not reach this one before it moved
                    timed[i] = (onset, max(onset, timed[j][0]))
                    break
    return timed


# --- the MEI -------------------------------------------------------------------------------------


def read_engraved(root: ET.Element) -> dict[str, Engraved]:
    """Every note of Verovio's MEI (parsed: its ``root``) by id: its MIDI pitch, whether it is a
    grace note, whether a tie ends on it."""
    transpose: dict[str, int] = {}
    for staff_def in root.iter(f"{MEI}staffDef"):
        if staff_def.get("trans.semi"):
            transpose[staff_def.get("n", "")] = _int(staff_def.get("trans.semi"), 0)
    tie_ends = {t.get("endid", "").lstrip("#") for t in root.iter(f"{MEI}tie")}
    notes: dict[str, Engraved] = {}

    def walk(element: ET.Element, staff: str, grace: bool, tie: str) -> None:
        for child in element:
            tag = child.tag.removeprefix(MEI)
            if tag == "staff":
                walk(child, child.get("n", ""), grace, tie)
            elif tag == "graceGrp":  # a group of grace notes, whatever its @grace says
                walk(child, staff, True, tie)
            elif tag == "chord":
                walk(child, staff, grace or bool(child.get("grace")), child.get("tie", ""))
            elif tag == "note":
                own_tie = child.get("tie") or tie
                notes[child.get(XML_ID, "")] = Engraved(
                    key=_pitch(child, transpose.get(staff, 0)),
                    grace=grace or bool(child.get("grace")),
                    tied=child.get(XML_ID) in tie_ends or own_tie in ("m", "t"),
                )
            elif tag not in ("scoreDef", "staffDef", "meiHead"):
                walk(child, staff, grace, tie)

    walk(root, "", False, "")
    return notes


def _pitch(note: ET.Element, transposition: int) -> int | None:
    if note.get("pnum"):
        return _int(note.get("pnum"), 0) + transposition
    step = _STEPS.get((note.get("pname.ges") or note.get("pname") or "").lower())
    octave = _int(note.get("oct.ges") or note.get("oct"), None)
    if step is None or octave is None:
        return None
    accid = note.get("accid.ges") or note.get("accid")
    if accid is None:
        for child in note.iter(f"{MEI}accid"):
            accid = child.get("accid.ges") or child.get("accid")
            if accid:
                break
    return step + _ALTERATIONS.get(accid or "n", 0) + 12 * (octave + 1) + transposition


def _int(text: str | None, default):
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


# --- the timemap ---------------------------------------------------------------------------------


def timemap_notes(toolkit: verovio.toolkit, tempo: TempoMap, engraved: dict[str, Engraved], timemap: list[dict]) -> list[_Candidate]:
    """Every performed engraved note of ``timemap``, in played order, timed like the measures
    (its quarter-note position through ``tempo``): from its onset to its timemap end (the last
    event where the timemap never ends it), each tie's first note to the end of its last
    continuation (:func:`_follow_ties`)."""
    candidates: list[_Candidate] = []
    index: dict[str, int] = {}  # timemap id -> candidate
    for event in timemap:
        time = tempo.seconds_at_quarter(event["qstamp"])
        for timemap_id in event.get("off", ()):
            if timemap_id in index:
                candidates[index[timemap_id]].end = time
        for timemap_id in event.get("on", ()):
            notated = toolkit.getNotatedIdForElement(timemap_id) if "-rend" in timemap_id else timemap_id
            info = engraved.get(notated)
            key = info.key if info is not None else None
            if key is None:  # a note the MEI gives no pitch for: ask Verovio (slow, rare)
                key = int(toolkit.getMIDIValuesForElement(timemap_id).get("pitch", -1))
            index[timemap_id] = len(candidates)
            candidates.append(_Candidate(notated, key, time, math.inf, bool(info and info.grace), bool(info and info.tied)))
    end = tempo.seconds_at_quarter(timemap[-1]["qstamp"]) if timemap else 0.0
    for candidate in candidates:
        if candidate.end == math.inf:
            candidate.end = max(candidate.onset, end)
    _follow_ties(candidates)
    return candidates


def _follow_ties(candidates: list[_Candidate]) -> None:
    """Extend each tie's first note to the end of its last continuation (notes of one key, in
    onset order: a continuation belongs to the latest earlier note of its key not itself one),
    and mark the continuations so absorbed ``merged``."""
    first: dict[int, _Candidate] = {}
    for candidate in sorted(candidates, key=lambda c: c.onset):
        if candidate.tied and candidate.key in first:
            held = first[candidate.key]
            held.end = max(held.end, candidate.end)
            candidate.merged = True
        elif not candidate.tied:
            first[candidate.key] = candidate


# --- matching ------------------------------------------------------------------------------------


def _match(notes: tuple[Note, ...], candidates: list[_Candidate], starts: Sequence[float] = ()) -> tuple[list[int], list[str]]:
    """Each MIDI note's candidate and how it was matched (the module's passes); ``starts``: the
    performed measures' onsets, ascending (seconds)."""
    owner: list[int | None] = [None] * len(notes)
    how: list[str] = [""] * len(notes)
    by_key: dict[int, list[int]] = {}
    for c in sorted(range(len(candidates)), key=lambda c: candidates[c].onset):
        by_key.setdefault(candidates[c].key, []).append(c)
    onsets = {key: [candidates[c].onset for c in group] for key, group in by_key.items()}

    def take(n: int, c: int, kind: str) -> None:
        owner[n], how[n] = c, kind
        candidates[c].matched += 1

    # 1. exact: same key, onset within TOLERANCE, closest first, continuations last
    pairs = []
    for n, note in enumerate(notes):
        group = by_key.get(note.key, [])
        times = onsets.get(note.key, [])
        lo = bisect.bisect_left(times, note.onset - TOLERANCE)
        hi = bisect.bisect_right(times, note.onset + TOLERANCE)
        for c in group[lo:hi]:
            pairs.append((abs(note.onset - candidates[c].onset), candidates[c].tied, n, c))
    pairs.sort()
    for _, _, n, c in pairs:
        if owner[n] is None and not candidates[c].matched:
            take(n, c, "exact")

    # 2. held: same key, sounding (not a continuation) when the MIDI note starts
    for n, note in enumerate(notes):
        if owner[n] is not None:
            continue
        group = by_key.get(note.key, [])
        upto = bisect.bisect_right(onsets.get(note.key, []), note.onset + TOLERANCE)
        held = [c for c in group[:upto] if not candidates[c].tied and candidates[c].end > note.onset]
        if held:
            take(n, max(held, key=lambda c: (not candidates[c].matched, candidates[c].onset)), "held")

    # 3. drift: the nearest unmatched note of the key within DRIFT
    for n, note in enumerate(notes):
        if owner[n] is not None:
            continue
        group = by_key.get(note.key, [])
        times = onsets.get(note.key, [])
        lo = bisect.bisect_left(times, note.onset - DRIFT)
        hi = bisect.bisect_right(times, note.onset + DRIFT)
        free = [c for c in group[lo:hi] if not candidates[c].matched]
        if free:
            take(n, min(free, key=lambda c: abs(candidates[c].onset - note.onset)), "drift")

    # 4. ornament: another key, held when the MIDI note starts: of its measure, the nearest key
    order = sorted(range(len(candidates)), key=lambda c: candidates[c].onset)
    begins = [candidates[c].onset for c in order]
    for n, note in enumerate(notes):
        if owner[n] is not None:
            continue
        upto = bisect.bisect_right(begins, note.onset + TOLERANCE)
        held = [c for c in order[max(0, upto - 64): upto] if candidates[c].end > note.onset and not candidates[c].tied]
        if held:
            measure = bisect.bisect_right(starts, note.onset + TOLERANCE)  # Verovio writes notes a few ms off
            take(n, min(held, key=lambda c: (bisect.bisect_right(starts, candidates[c].onset) != measure,
                                             abs(candidates[c].key - note.key), -candidates[c].onset)), "ornament")

    # 5. nearest: the engraved note of the nearest onset
    for n, note in enumerate(notes):
        if owner[n] is not None:
            continue
        i = bisect.bisect_left(begins, note.onset)
        near = [order[j] for j in (i - 1, i) if 0 <= j < len(order)]
        take(n, min(near, key=lambda c: abs(candidates[c].onset - note.onset)), "nearest")
    return owner, how
