"""Read a MusicXML score's measures as they sound: real lengths, tempo marks, fermatas, repeats,
voltas and jump marks, from the MusicXML itself (no Verovio).

Lengths follow the cursor of the MusicXML format: every ``<note>`` that is neither a chord note
(``<chord/>``) nor a grace note advances it by its ``<duration>`` (cue notes do advance),
``<forward>`` advances it, ``<backup>`` moves it back, and a measure lasts as far as its notes
reach, over all voices, staves and parts. The ``<tuplet>`` markup is read only to tell a nested
tuplet, and note types only to tell rounding (both below), so a tuplet with a stop but no start,
a ``<forward>`` filler inside a tuplet or hidden tuplet rests cost nothing; pickups, overfull and
underfull measures get the length their notes fill (but for the refinements below). A measure in
which nothing takes time gets its time signature's length (4/4 where none is given).
Six refinements, each for a kind of export error found in real MuseScore files (ASAP) and
each checked there against annotated downbeats of MuseScore's own playback:

- where the ``<duration>``s miss the time signature only because tuplet notes are rounded to
  whole divisions (the cursor with each tuplet note at its notated value reaches the time
  signature from the other side, or exactly), the measure lasts the time signature;
- a negative note ``<duration>`` moves the cursor back (the writer counted its backups on a
  cursor that moved so);
- where a tuplet lies inside another (which MuseScore exports with wrong ``<duration>``s) and
  the measure falls short of its time signature, the measure lasts the time signature, and the
  ``<duration>``s of that part place none of its notes there (``XmlMeasure.notes`` holds none of
  them); a pickup (``implicit="yes"``) keeps its written length. Of the 88 ASAP measures with a
  nested tuplet, MuseScore plays 86 at their time signature (the other two run longer); all 10
  that fall short of it as written are played at it (Schumann, Kreisleriana 3 m. 127-135: a
  triplet holding a 9:4 tuplet whose eighth is written as a 16th);
- a ``<backup>`` past the measure start is not clamped (MuseScore makes up for such a backup
  with an equal ``<forward>``);
- a ``<forward>`` that no note follows in its voice (a filler at a voice's end) lengthens the
  measure only up to its time signature;
- where the first voices of the staves (each staff's lowest ``<voice>`` number) reach the time
  signature and another voice runs further, the measure lasts as far as the first voices reach
  (MuseScore fills each staff's first voice to the measure's real length and plays the measure
  for that long; a voice past it holds wrong durations, typically of a tuplet); and where one
  staff's first voice is padded with rests exactly to the time signature, the measure lasts the
  time signature (MuseScore pads each first voice to the measure's real length; asap-dev Chopin
  Barcarolle measure 110: the left hand's rests end at 12/8, the right hand's tuplets overrun it
  by an eighth). A note held to the time signature under a longer cadenza does not shorten it.

Tempo marks: every ``<sound tempo="...">`` (inside a ``<direction>`` or directly in the measure)
at the cursor where it stands plus its ``<offset>`` (the sound's own, else the direction's), in
quarter notes per minute, clamped into the measure. ``<offset>`` is applied whatever its
``sound`` attribute says: MuseScore writes it, without that attribute, to place a direction
between the notes of the voice it is exported with (the MusicXML default would ignore it for
playback). A ``<metronome>`` whose direction carries no ``<sound tempo>`` counts too: its
``<per-minute>`` (the first number in it, so "c. 120" reads 120) times its first ``<beat-unit>``
in quarters (dotted units times 1.5, 1.75 ...); a metronome without ``<per-minute>`` (a metric
modulation, "♩ = ♪") is no tempo. Of marks at one position the last written wins, as MuseScore
plays it (asap Rachmaninoff op. 32/10 opens "♩ = 40", "Lento" at 120, "♩ = 40": it plays 40).

Fermatas: (offset, duration) of every note, rest or chord with a ``<fermata>`` in its
``<notations>``, once per position (the longest duration found there, over voices, staves and
parts; a grace note lasts 0); a fermata over a barline is (0 or the measure's length, 0).

Jump marks, per ``<direction>``: its ``<sound>`` attributes ``segno``, ``coda``, ``fine`` (any
value but "no"), ``dacapo="yes"``, ``dalsegno``, ``tocoda`` decide. Only when that sound gives
none of these (or there is none) do the direction's symbols and words count. Its words and
symbols are read as one text, in their order, a symbol as its name ("To" and a ``<coda/>`` read
"To coda"; all ``<words>`` joined, case-insensitive, surrounding punctuation and symbols
stripped). Where that text says D.C., D.S. or To Coda, the symbols are part of the sign ("To
Coda ⊕", "D.S. al Coda 𝄌") and mark nothing themselves; otherwise a ``<segno/>`` symbol is a
segno, a ``<coda/>`` symbol a coda, and the words alone count, by these rules:

- D.C.: the text holds "D.C." (also "D. C.", "DC" alone at the start) or "da capo" as words:
  "D.C. al Fine", "Menuetto D.C.", "Da Capo al Coda";
- D.S.: "D.S." (also "D. S.", "DS" at the start) or "dal segno";
- To Coda: the text starts with "to coda" ("To Coda ⊕");
- Fine: the text is "Fine" and nothing else ("accelerando sin al fine" is not);
- Coda: the text is "Coda" and nothing else; Segno: the text is "Segno".

A ``<sound>``'s ``segno``, ``coda``, ``dalsegno`` and ``tocoda`` values are names
(``XmlMeasure.names``): a D.S. or To Coda that names a segno or coda goes there
(:mod:`.unfold`); MuseScore 3 writes "segno" and "coda" for all of them. A MusicXML 4.0
``<barline segno="..." coda="...">`` names its symbol the same way.

A segno or coda written at the very end of a measure (at or past its length, as a right-barline
``<segno/>``/``<coda/>`` is) marks the next measure. Fine, D.C., D.S. and To Coda act at the end
of the measure that holds them, wherever in it they stand. A score with no To Coda but two or
more coda marks has its first coda mark as its To Coda, held by the measure it is written in
(a coda sign at the end of a measure is where a To Coda usually stands).

Repeats from ``<barline><repeat direction=... times=...>`` (``times`` defaults to 2, and is read
as 1..100), and ``<sound forward-repeat="yes">``; a forward repeat written on a right barline
starts the next measure, a backward repeat on a left barline ends the previous one. Voltas from
``<barline><ending number="1, 2" type="start|stop|discontinue">``: the numbers (a list such as
"1, 2" or "1,2", ranges "1-3"; where the attribute is empty, the numbers in the ending's text)
mark the measures from the start to the stop or discontinue, both included. An ending that is
never stopped ends at the first measure with a backward repeat, or before a measure that starts
another ending or a forward repeat.

Several parts: measure ``i`` of the score is the ``i``-th ``<measure>`` of every part, merged:
its length is the longest part's, its marks, repeats, voltas, tempo marks and fermatas are the
union over parts (a tempo mark repeated identically once, where it is last written; fermatas
once per position, the longest). The count, numbers and time signatures are the first part's.

The parse never raises on odd content: a file that is not MusicXML (MEI, Humdrum, anything not
well-formed, an .mxl without a readable score) gives None; odd values are ignored or clamped.
Reading a zip never leaves it (members are looked up by name, unpacked in memory under a 64 MiB
budget), and XML is parsed by lxml with no DTD loaded, no entity resolved, no network.
"""

from __future__ import annotations

import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

_MAX_BYTES = 64 * 2**20  # a score file, or the rootfile of an .mxl, unpacked
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_MAX_TIMES = 100
_UNITS = {  # a <beat-unit> or note <type> in quarter notes
    "maxima": 32.0, "long": 16.0, "breve": 8.0, "whole": 4.0, "half": 2.0, "quarter": 1.0, "eighth": 0.5,
    "16th": 0.25, "32nd": 0.125, "64th": 0.0625, "128th": 0.03125, "256th": 0.015625,
    "512th": 0.0078125, "1024th": 0.00390625,
}
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_MARKS = ("segno", "coda", "fine", "dacapo", "dalsegno", "tocoda")
_JUMPS = {"dacapo", "dalsegno", "tocoda"}
_NAMED = {"segno", "coda", "dalsegno", "tocoda"}  # marks whose <sound> attribute value is a name
# Word rules (text lower-cased, whitespace collapsed, surrounding punctuation/symbols stripped).
_DACAPO = re.compile(r"(?:^|\s)(?:d\.\s?c\b\.?|da\s+capo\b)|^dc\b")
_DALSEGNO = re.compile(r"(?:^|\s)(?:d\.\s?s\b\.?|dal\s+segno\b)|^ds\b")
_TOCODA = re.compile(r"^to\s+coda\b")
_STRIP = " \t\r\n.,;:!?()[]{}\"'*-–—_/\\|~⊕𝄌𝄋"


@dataclass(frozen=True)
class XmlNote:
    """A note or chord of one voice that takes time (grace notes left out): where it stands in
    its measure by the ``<duration>``s before it in the cursor walk."""

    part: int  # index of its part in the score
    staff: str  # its ``<staff>`` ("1" where none is given)
    voice: int  # its ``<voice>`` (1 where none is given)
    at: float  # quarters from the measure's start
    duration: float  # quarters
    pitches: tuple[str, ...]  # written pitch of each of its notes, sorted ("C4", "E4"; "" unpitched)


@dataclass(frozen=True)
class XmlMeasure:
    """One ``<measure>`` of a MusicXML score, as it sounds. Offsets and lengths in quarter notes.

    ``meter_length`` (added to the agreed interface) is the length of the time signature in
    effect (4.0 where none is given), so that a caller can tell a tuplet-, pickup- or
    overfull-measure length from the notated one.
    """

    index: int  # 0-based document order of <measure> in the part(s)
    number: str  # its number attribute
    length: float  # quarters the measure actually lasts (how far its notes reach; see the module docstring), > 0
    tempos: tuple[tuple[float, float], ...] = ()  # (offset, quarter notes per minute), by offset
    fermatas: tuple[tuple[float, float], ...] = ()  # (offset, duration) of each fermata'd time position
    repeat_forward: bool = False
    repeat_backward: bool = False
    times: int = 2  # of the backward repeat: how many times the section is played
    endings: tuple[int, ...] = ()  # volta numbers this measure belongs to, ascending
    segno: bool = False
    coda: bool = False
    fine: bool = False
    dacapo: bool = False
    dalsegno: bool = False
    tocoda: bool = False
    meter_length: float = 4.0  # the time signature's length in quarters (4/4 where none)
    names: frozenset[tuple[str, str]] = frozenset()  # (mark, name) of its segno, coda, dalsegno and tocoda marks that are named
    notes: tuple[XmlNote, ...] = ()  # its notes and chords that take time, part by part, in document order (none of a part
    # whose nested tuplet leaves the measure short of its time signature: see the module docstring)


def read_musicxml(path: str | Path) -> tuple[XmlMeasure, ...] | None:
    """The measures of a MusicXML score (.musicxml/.xml, or .mxl: the rootfile of the zip per
    META-INF/container.xml), None if the file is not MusicXML (MEI, Humdrum, not well-formed, an
    archive without a readable score). Partwise or timewise. Several parts: measure i is the union
    over parts (length = max). The kind of file is told by its content, not its name. Errors of
    the file system (a missing file) are raised."""
    data = score_bytes(Path(path))
    if data is None:
        return None
    try:
        root = etree.fromstring(data, _parser())
    except (etree.XMLSyntaxError, ValueError):
        return None
    if not isinstance(root.tag, str):
        return None
    ns, _, name = root.tag.rpartition("}")
    ns = ns + "}" if ns else ""
    if name == "score-partwise":
        parts = [[(m, m.get("number", "")) for m in part.iterchildren(ns + "measure")] for part in root.iterchildren(ns + "part")]
    elif name == "score-timewise":
        parts = _timewise(root, ns)
    else:
        return None
    return _merge([_read_part(measures, ns) for measures in parts if measures] if parts and parts[0] else [])


# --- the file -------------------------------------------------------------------------------


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
        remove_comments=True, remove_pis=True, remove_blank_text=True,  # fewer nodes: 20 % faster
        # (collect_ids=False would make libxml2 fetch the DTD)
    )


def score_bytes(path: Path) -> bytes | None:
    """The score XML's bytes: the file itself, or an .mxl's rootfile; None when too large or unreadable as a zip."""
    with open(path, "rb") as stream:
        if stream.read(4) in _ZIP_MAGIC:
            stream.seek(0)
            try:
                with zipfile.ZipFile(stream) as archive:
                    return _rootfile_bytes(archive)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError, RuntimeError,
                    UnicodeDecodeError, ValueError, KeyError):
                return None
        stream.seek(0)
        data = stream.read(_MAX_BYTES + 1)
    return data if len(data) <= _MAX_BYTES else None


def _rootfile_bytes(archive: zipfile.ZipFile) -> bytes | None:
    """The first rootfile named by META-INF/container.xml; without a container, the archive's only
    .xml/.musicxml member outside META-INF."""
    names = set(archive.namelist())
    rootfile = None
    if "META-INF/container.xml" in names:
        container = _member(archive, "META-INF/container.xml")
        try:
            croot = etree.fromstring(container, _parser()) if container else None
        except (etree.XMLSyntaxError, ValueError):
            croot = None
        if croot is not None:
            for element in croot.iter():
                if isinstance(element.tag, str) and element.tag.rpartition("}")[2] == "rootfile":
                    rootfile = element.get("full-path") or None
                    break
    else:
        candidates = [n for n in names if not n.startswith("META-INF/") and n.lower().endswith((".xml", ".musicxml"))]
        rootfile = candidates[0] if len(candidates) == 1 else None
    if rootfile is None or rootfile not in names:
        return None
    return _member(archive, rootfile)


def _member(archive: zipfile.ZipFile, name: str) -> bytes | None:
    info = archive.getinfo(name)
    if info.file_size > _MAX_BYTES:
        return None
    with archive.open(info) as member:
        data = member.read(_MAX_BYTES + 1)
    return data if len(data) <= _MAX_BYTES else None


def _timewise(root, ns: str) -> list[list[tuple[object, str]]]:
    """A timewise score as partwise lists: per part id (in order of first appearance), its
    ``<part>`` elements with the number of the measure holding them."""
    parts: dict[str, list[tuple[object, str]]] = {}
    for measure in root.iterchildren(ns + "measure"):
        number = measure.get("number", "")
        for part in measure.iterchildren(ns + "part"):
            parts.setdefault(part.get("id", ""), []).append((part, number))
    return list(parts.values())


# --- one part ---------------------------------------------------------------------------------


@dataclass
class _PartMeasure:
    number: str
    end: float  # furthest the cursor reached (0 when nothing took time)
    meter: float  # time signature length in effect, 0 when unknown (senza misura)
    tempos: list
    fermatas: dict
    marks: set
    forward: bool = False
    backward: bool = False
    times: int = 2
    endings: frozenset = frozenset()
    # what this measure's barlines and marks say about its neighbours
    next_forward: bool = False
    next_marks: tuple = ()
    names: frozenset = frozenset()  # (mark, name) pairs of the named marks, here and in next_names for the next measure
    next_names: frozenset = frozenset()
    previous_backward: int = 0  # times of a backward repeat on the left barline, 0 if none
    notes: tuple = ()  # its _Events that are notes or chords


class _Tags:
    """Tag names with the document's namespace, if it has one."""

    def __init__(self, ns: str):
        for name in ("note", "duration", "chord", "grace", "notations", "fermata", "backup", "forward", "direction",
                     "direction-type", "sound", "offset", "attributes", "divisions", "time", "beats", "beat-type",
                     "senza-misura", "barline", "repeat", "ending", "segno", "coda", "words", "metronome",
                     "beat-unit", "beat-unit-dot", "per-minute", "voice", "staff", "rest", "pitch", "step", "octave",
                     "type", "dot", "time-modification", "actual-notes", "normal-notes", "tuplet"):
            setattr(self, name.replace("-", "_"), ns + name)
        # what the cursor walk reads, in document order; figured-bass only to keep its <duration> apart
        self.stream = tuple(ns + name for name in ("note", "chord", "grace", "duration", "time-modification", "fermata",
                                                   "backup", "forward", "direction", "sound", "attributes", "barline",
                                                   "figured-bass"))


def _read_part(measures: list[tuple[object, str]], ns: str) -> list[_PartMeasure]:
    tags = _Tags(ns)
    state = {"divisions": 1.0, "meter": 4.0, "ending": None}
    return [_walk(element, number, state, tags) for element, number in measures]


def _quarters(text: str | None, divisions: float) -> float:
    """A <duration>/<backup>/<forward>/<offset> value in quarters; 0 for anything not a finite number."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return 0.0
    return value / divisions if math.isfinite(value) else 0.0


def _walk(measure, number: str, state: dict, t: _Tags) -> _PartMeasure:
    """One part's measure, following the cursor.

    For speed the measure's relevant elements are taken as one flat stream in document order
    (``iter`` with a tag filter, in C) rather than note by note: a ``<duration>``, ``<chord/>``,
    ``<grace/>`` or ``<fermata>`` belongs to the last ``<note>``, ``<backup>``, ``<forward>`` or
    ``<barline>`` before it. The MusicXML schema puts ``<grace/>`` and ``<chord/>`` before a
    note's ``<duration>``, and ``<notations>`` after it.

    A ``<forward>`` with no note after it in its voice (a filler at the end of a voice) makes the
    measure last at most its time signature: fillers that overshoot it are export errors
    (asap-dev Mozart K. 475 measure 34: a voice of 4 quarters padded to 4.375 by two forwards;
    Chopin op. 31 measure 264: rests of 3 quarters in 3/4, then a forward of 3 more). Notes alone
    can make a measure longer than its time signature (a cadenza).

    A ``<backup>`` past the measure start is not clamped: the cursor goes negative, and what
    lies before the start adds no length. MuseScore writes such backups in corrupt measures and
    makes up for them with a ``<forward>`` just as large (asap-dev Beethoven 23-1, measure 71:
    backup 320389, two notes, forward 318811, with 480 divisions): clamping at 0 would make
    that measure last 667 quarters instead of 6. Positions reported (tempo marks, fermatas) are
    clamped into the measure. A negative note ``<duration>`` (invalid; MuseScore writes one for
    a note of a nested tuplet) moves the cursor back by as much and gives the note no length:
    the ``<backup>``s after it were counted on the writer's cursor, which it moved (asap
    Schumann Kreisleriana 3, measure 16: 171, 113, 114, -142, ... then a backup of 768, the
    written sum). Notes keep their written ``<duration>``; where the measure then misses its
    time signature, the cursor is walked again with each tuplet note at its notated value
    (``_notated_reach``) to tell rounding from a real pickup or cadenza."""
    divisions = measure_divisions = state["divisions"]
    pos = end = filled = start = at = duration = 0.0  # filled: the furthest a <forward> reached
    steps: list[tuple] = []  # the cursor's moves, for _notated_reach: ("n", quarters), ("b", ...), ("f", ...), ("t", ...)
    current = None  # index in steps of the note being read
    chord = grace = False
    owner = None  # the tag whose children the stream is in
    tempos: list[tuple[float, float]] = []
    fermatas: dict[float | None, float] = {}
    marks: list[tuple[str, float | None]] = []
    carried = state["ending"]
    endings: set[int] = set()
    started = forward = backward = next_forward = False
    times, previous_backward = 2, 0
    note, chord_tag, grace_tag, duration_tag, fermata_tag = t.note, t.chord, t.grace, t.duration, t.fermata
    backup_tag, forward_tag = t.backup, t.forward
    for element in measure.iter(*t.stream):
        tag = element.tag
        if tag == duration_tag:
            try:
                value = float(element.text) / divisions
            except (TypeError, ValueError):
                continue
            if not math.isfinite(value) or value == 0 or (value < 0 and owner != note):
                continue
            if owner == note:
                if grace:
                    continue
                duration = max(value, 0.0)
                if not chord:
                    start = at = pos
                    pos += value  # a negative <duration> moves the cursor back: see _walk's docstring
                    current = len(steps)
                    steps.append(("n", value))
                    if pos > end:
                        end = pos
            elif owner == backup_tag:
                pos -= value  # may go before the measure start: see _walk's docstring
                steps.append(("b", value))
            elif owner == forward_tag:
                pos += value
                steps.append(("f", value))
                if pos > filled:
                    filled = pos
            continue
        if tag == note:
            owner, at, duration, chord, grace, current = note, pos, 0.0, False, False, None
        elif tag == chord_tag:
            if owner == note:
                chord, at = True, start
        elif tag == t.time_modification:
            if owner == note and current is not None and duration > 0:
                steps[current] = ("t", duration, element, divisions)
        elif tag == grace_tag:
            if owner == note:
                grace = True
        elif tag == fermata_tag:
            if owner == note:
                key = round(at, 9)
                fermatas[key] = max(fermatas.get(key, 0.0), 0.0 if grace else duration)
        elif tag == backup_tag or tag == forward_tag:
            owner = tag
        elif tag == t.direction:
            owner = tag
            _direction(element, pos, divisions, tempos, marks, t)
        elif tag == t.sound:
            parent = element.getparent()
            if parent is not None and parent.tag != t.direction:
                _sound(element, pos, divisions, tempos, marks, t)
        elif tag == t.attributes:
            owner = tag
            divisions = _attributes(element, divisions, state, t)
        elif tag == t.barline:
            owner = tag
            location = element.get("location", "right")
            repeat = element.find(t.repeat)
            if repeat is not None:
                direction = repeat.get("direction", "")
                if direction == "forward":
                    if location == "right":
                        next_forward = True
                    else:
                        forward = True
                elif direction == "backward":
                    count = _times(repeat.get("times"))
                    if location == "left":
                        previous_backward = count
                    else:
                        backward, times = True, count
            for ending in element.iterchildren(t.ending):
                numbers = _ending_numbers(ending.get("number"), ending.text)
                kind = ending.get("type", "")
                endings.update(numbers)
                if kind == "start":
                    started = True
                    state["ending"] = numbers or None
                elif kind in ("stop", "discontinue"):
                    state["ending"] = None
            where = 0.0 if location == "left" else (pos if location == "middle" else None)  # None: the measure's end
            for symbol, kind in ((t.segno, "segno"), (t.coda, "coda")):
                if element.find(symbol) is not None:
                    marks.append((kind, where, (element.get(kind) or "").strip()))  # MusicXML 4.0 names it in an attribute
            if element.find(t.fermata) is not None:
                key = where if where is None else round(where, 9)
                fermatas[key] = fermatas.get(key, 0.0)
        else:
            owner = tag  # <figured-bass>: a <duration> that is not the cursor's
    if any(kind == "forward" for kind, _, _ in marks):
        forward = True
    if carried and not started and not forward:
        endings.update(carried)
    if state["ending"] and (backward or forward):
        state["ending"] = None  # an ending never stopped ends at a backward repeat
    meter = state["meter"]
    if filled > end:
        end = max(end, min(filled, meter)) if meter else filled
    events = _events(measure, measure_divisions, t)
    if meter and end > 0 and abs(end - meter) > 1e-9 and any(step[0] == "t" for step in steps):
        notated = _notated_reach(steps, t)
        if min(end, notated) <= meter + 1e-9 <= max(end, notated) + 2e-9:
            end = meter  # the <duration>s miss the time signature only by the rounding of tuplets
    misplaced = bool(meter and 0 < end < meter - 1e-9 and measure.get("implicit") != "yes" and _nested_tuplet(measure, t))
    if misplaced:
        end = meter  # MuseScore writes the notes of a nested tuplet with wrong <duration>s: they place no note
    if meter and end > meter + 1e-9:
        first = _first_voices(events)
        furthest = max(reach for reach, _ in first)
        if any(padding and abs(reach - meter) <= 1e-9 for reach, padding in first):
            end = meter  # a staff's first voice is padded to the time signature exactly: the others' excess is an export error
        elif meter - 1e-9 <= furthest < end:
            end = furthest  # another voice runs past full first voices: a corrupt measure, played as long as they are
    if not math.isfinite(end):
        end = 0.0
    length = end if round(end, 9) > 0 else meter or 4.0
    clamped: dict[float, float] = {}
    for at, held in fermatas.items():
        key = round(length if at is None else min(max(at, 0.0), length), 9)
        clamped[key] = max(clamped.get(key, 0.0), held)
    here, later, names, next_names = set(), [], set(), set()
    for kind, at, name in marks:
        if kind == "forward":
            continue
        if kind in ("segno", "coda") and (at is None or (at > 0 and at >= length)):
            later.append(kind)
            if name:
                next_names.add((kind, name))
        else:
            here.add(kind)
            if name:
                names.add((kind, name))
    return _PartMeasure(
        number=number,
        end=end,
        meter=state["meter"],
        tempos=[(round(min(max(at, 0.0), length), 9), bpm) for at, bpm in tempos],
        fermatas=clamped,
        marks=here,
        forward=forward,
        backward=backward,
        times=times,
        endings=frozenset(endings),
        next_forward=next_forward,
        next_marks=tuple(later),
        names=frozenset(names),
        next_names=frozenset(next_names),
        previous_backward=previous_backward,
        notes=() if misplaced else tuple(event for event in events if not event.padding),
    )


@dataclass
class _Event:
    """A note, chord, rest or ``<forward>`` of the cursor walk, note by note."""

    at: float
    duration: float
    staff: str
    voice: int
    padding: bool  # a rest or a <forward>
    pitches: list


def _events(measure, divisions: float, t: _Tags) -> list[_Event]:
    """The measure's notes (a chord as one), rests and ``<forward>``s with their voice and staff,
    following the cursor note by note (``_walk`` reads only lengths, and faster). A grace note
    takes no time and is left out. A ``<forward>`` without a voice or staff continues those of the
    note before it; a note without them is in voice 1 on staff 1."""
    pos = 0.0
    events: list[_Event] = []
    voice, staff = 1, "1"
    for element in measure:
        tag = element.tag
        if tag == t.attributes:
            text = element.findtext(t.divisions)
            try:
                value = float(text) if text is not None else 0.0
            except ValueError:
                value = 0.0
            if math.isfinite(value) and value > 0:
                divisions = value
        elif tag == t.backup:
            pos -= max(_quarters(element.findtext(t.duration), divisions), 0.0)
        elif tag == t.note or tag == t.forward:
            duration, number, where, chord, grace, pitch = 0.0, None, None, False, False, ""
            padding = tag == t.forward
            for child in element.iterchildren(t.grace, t.chord, t.rest, t.pitch, t.duration, t.voice, t.staff):
                ctag = child.tag
                if ctag == t.duration:
                    duration = _quarters(child.text, divisions)
                elif ctag == t.voice:
                    number = child.text
                elif ctag == t.staff:
                    where = (child.text or "1").strip()
                elif ctag == t.rest:
                    padding = True
                elif ctag == t.pitch:
                    pitch = (child.findtext(t.step) or "").strip().upper() + (child.findtext(t.octave) or "").strip()
                elif ctag == t.chord:
                    chord = True
                else:
                    grace = True
            if grace:
                continue
            if duration < 0 and tag == t.forward:
                duration = 0.0  # a negative <forward> is ignored, as _walk ignores it
            if chord:
                if events and not events[-1].padding:
                    events[-1].pitches.append(pitch)
                continue
            if number is not None or tag == t.note:
                try:
                    voice = int(number) if number is not None else 1
                except ValueError:
                    voice = 1
            if where is not None or tag == t.note:
                staff = where or "1"
            events.append(_Event(pos, max(duration, 0.0), staff, voice, padding, [] if padding else [pitch]))
            pos += duration  # a negative note <duration> moves the cursor back, as in _walk
    return events


def _notated_reach(steps: list[tuple], t: _Tags) -> float:
    """How far a measure's notes reach (quarters) when the cursor walks ``steps``, ``_walk``'s
    record of it, with each tuplet note at its notated value (``_tuplet_quarters``)."""
    pos = reach = 0.0
    for kind, value, *tuplet in steps:
        if kind == "b":
            pos -= value
        elif kind == "f":
            pos += value
        else:
            pos += _tuplet_quarters(tuplet[0], value, tuplet[1], t) if tuplet else value
            reach = max(reach, pos)
    return reach


def _nested_tuplet(measure, t: _Tags) -> bool:
    """Whether a tuplet of ``measure`` lies inside another: one starts while another of its voice
    is open, or a note stops two at once (the outer one begun in an earlier measure)."""
    open_: set[tuple[str, str]] = set()  # (voice, tuplet number)
    for note in measure.iterchildren(t.note):
        voice = (note.findtext(t.voice) or "1").strip()
        kinds = [(tuplet.get("type"), tuplet.get("number", "1")) for tuplet in note.iter(t.tuplet)]
        if sum(kind == "stop" for kind, _ in kinds) > 1:
            return True
        for kind, number in kinds:
            if kind == "start":
                if any(v == voice for v, _ in open_):
                    return True
                open_.add((voice, number))
        for kind, number in kinds:
            if kind == "stop":
                open_.discard((voice, number))
    return False


def _tuplet_quarters(modification, written: float, divisions: float, t: _Tags) -> float:
    """Quarters a note with a ``<time-modification>`` lasts: its notated value (its type and
    dots times normal over actual notes; ``<normal-type>`` only names the tuplet's unit) where
    ``written``, its ``<duration>`` in quarters, is that value rounded to whole divisions (off by
    less than one division), else ``written``. Divisions rarely divide a tuplet exactly:
    MuseScore writes a 64th of a 9:8 group at 480 divisions as 27 (26.67), and those roundings
    add up over a measure (asap Ravel, Une barque, measure 39: 4.05 quarters in 4/4). A value
    further off is the writer's, kept as written."""
    note = modification.getparent()
    base = _UNITS.get((note.findtext(t.type) or "").strip())
    actual = _positive(modification.findtext(t.actual_notes) or "")
    normal = _positive(modification.findtext(t.normal_notes) or "")
    if base is None or not actual or not normal:
        return written
    exact = base * (2.0 - 0.5 ** len(note.findall(t.dot))) * normal / actual
    return exact if abs(exact - written) * divisions < 1.0 else written


def _first_voices(events: list[_Event]) -> list[tuple[float, bool]]:
    """How far the first voice of each staff reaches (the lowest ``<voice>`` number seen on that
    staff) and whether a rest or ``<forward>`` takes it there (padding), one pair per staff
    (``(0.0, False)`` alone where there is no note): for the rare measure that runs past its time
    signature."""
    reach: dict[str, dict[int, tuple[float, bool]]] = {}
    for event in events:
        end = event.at + event.duration
        if end >= reach.get(event.staff, {}).get(event.voice, (0.0, False))[0]:  # a note ending before the start reaches nothing
            reach.setdefault(event.staff, {})[event.voice] = (end, event.padding)
    return [voices[min(voices)] for voices in reach.values()] or [(0.0, False)]


def _times(text: str | None) -> int:
    try:
        value = int(float(text)) if text is not None else 2
    except (TypeError, ValueError, OverflowError):
        return 2
    return min(max(value, 1), _MAX_TIMES)


def _ending_numbers(number: str | None, text: str | None) -> frozenset[int]:
    """"1, 2" / "1,2" / "1 2" / "1-3"; where the attribute has no number, the numbers in the text ("1.")."""
    source = number if number and re.search(r"\d", number) else (text or "")
    numbers: set[int] = set()
    for first, last in re.findall(r"(\d+)(?:\s*[-–]\s*(\d+))?", source):
        a = int(first)
        b = int(last) if last else a
        if 0 < a <= b <= a + _MAX_TIMES:
            numbers.update(range(a, b + 1))
    return frozenset(n for n in numbers if n <= _MAX_TIMES)


def _attributes(element, divisions: float, state: dict, t: _Tags) -> float:
    """Divisions and time signature; returns the divisions in effect from here on."""
    text = element.findtext(t.divisions)
    if text is not None and (value := _positive(text)) > 0:
        divisions = state["divisions"] = value
    time = element.find(t.time)
    if time is not None:
        if time.find(t.senza_misura) is not None:
            state["meter"] = 0.0
        else:
            meter = _meter(time, t)
            if meter > 0:
                state["meter"] = meter
    return divisions


def _meter(time, t: _Tags) -> float:
    """Quarters per measure of a <time>: the sum over its beats/beat-type pairs ("3+2"/8 = 2.5)."""
    total = 0.0
    beats = None
    for child in time:
        if child.tag == t.beats:
            beats = child.text
        elif child.tag == t.beat_type and beats is not None:
            try:
                count = sum(float(x) for x in beats.replace(" ", "").split("+") if x)
                unit = float(child.text)
            except (TypeError, ValueError):
                count, unit = 0.0, 0.0
            if unit > 0 and math.isfinite(count) and math.isfinite(unit) and count > 0:
                total += count * 4.0 / unit
            beats = None
    return total


def _positive(text: str) -> float:
    """``text`` as a finite positive number, else 0."""
    try:
        value = float(text)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) and value > 0 else 0.0


def _offset(element, divisions: float, t: _Tags) -> float | None:
    text = element.findtext(t.offset)
    return None if text is None else _quarters(text, divisions)


def _sound(sound, pos: float, divisions: float, tempos: list, marks: list, t: _Tags, offset: float = 0.0) -> tuple[bool, bool]:
    """A <sound>'s tempo and marks, at ``pos`` plus its own <offset> (else ``offset``). Returns
    (whether it names a jump mark, whether it gives a tempo)."""
    own = _offset(sound, divisions, t)
    at = pos + (own if own is not None else offset)
    attributes = sound.attrib
    has_tempo = False
    tempo = attributes.get("tempo")
    if tempo is not None and (bpm := _positive(tempo)) > 0:
        tempos.append((at, bpm))
        has_tempo = True
    said = False
    for kind in _MARKS:
        value = attributes.get(kind)
        if value is None or not value.strip():
            continue
        if kind == "dacapo" and value.strip().lower() != "yes":
            continue
        if kind == "fine" and value.strip().lower() == "no":
            continue
        marks.append((kind, at, value.strip() if kind in _NAMED else ""))
        said = True
    if attributes.get("forward-repeat", "").strip().lower() == "yes":
        marks.append(("forward", at, ""))
    return said, has_tempo


def _direction(direction, pos: float, divisions: float, tempos: list, marks: list, t: _Tags) -> None:
    offset = _offset(direction, divisions, t) or 0.0
    at = pos + offset
    said = has_tempo = False
    sound = direction.find(t.sound)
    if sound is not None:
        said, has_tempo = _sound(sound, pos, divisions, tempos, marks, t, offset)
    words: list[str] = []
    symbols: list[str] = []
    text: list[str] = []  # words and symbols in their order, a symbol as its name
    for kind in direction.iterchildren(t.direction_type):
        for child in kind:
            tag = child.tag
            if tag == t.words:
                if child.text:
                    words.append(child.text)
                    text.append(child.text)
            elif tag == t.segno or tag == t.coda:
                symbols.append("segno" if tag == t.segno else "coda")
                text.append(symbols[-1])
            elif tag == t.metronome and not has_tempo:
                bpm = _metronome(child, t)
                if bpm:
                    tempos.append((at, bpm))
                    has_tempo = True
    if said:
        return
    jumps = word_marks(" ".join(text)) & _JUMPS if symbols else set()
    if jumps:
        marks.extend((kind, at, "") for kind in sorted(jumps))  # its symbols are part of the sign
        return
    for kind in symbols:
        marks.append((kind, at, ""))
    if words:
        for kind in word_marks(" ".join(words)):
            marks.append((kind, at, ""))


def _metronome(metronome, t: _Tags) -> float | None:
    """Quarter notes per minute of a <metronome> with a beat unit and <per-minute>."""
    unit, dots, per_minute = None, 0, None
    for child in metronome:
        tag = child.tag
        if tag == t.beat_unit:
            if unit is not None:
                return None  # "unit = unit": a metric modulation, no tempo
            unit = _UNITS.get((child.text or "").strip())
        elif tag == t.beat_unit_dot and unit is not None:
            dots += 1
        elif tag == t.per_minute:
            match = _NUMBER.search(child.text or "")
            per_minute = float(match.group()) if match else None
    if not unit or not per_minute or not math.isfinite(per_minute):
        return None
    return per_minute * unit * (2.0 - 0.5**dots)


def word_marks(text: str) -> set[str]:
    """The jump marks a direction's words say (see the module docstring for the rules)."""
    words = " ".join(text.lower().split()).strip(_STRIP)
    found = set()
    if _DACAPO.search(words):
        found.add("dacapo")
    if _DALSEGNO.search(words):
        found.add("dalsegno")
    if _TOCODA.search(words):
        found.add("tocoda")
    elif words == "coda":
        found.add("coda")
    if words == "fine":
        found.add("fine")
    if words == "segno":
        found.add("segno")
    return found


# --- the parts merged ---------------------------------------------------------------------------


def _merge(parts: list[list[_PartMeasure]]) -> tuple[XmlMeasure, ...]:
    if not parts:
        return ()
    count = len(parts[0])
    forward = [False] * count
    backward = [0] * count  # times, 0: none
    marks: list[set[str]] = [set() for _ in range(count)]
    names: list[set[tuple[str, str]]] = [set() for _ in range(count)]
    codas: dict[int, set[int]] = {}  # measure a coda mark is written in -> the measures it marks
    for part in parts:
        for i, pm in enumerate(part[:count]):
            forward[i] |= pm.forward
            names[i] |= pm.names
            if pm.backward:
                backward[i] = max(backward[i], pm.times)
            marks[i] |= pm.marks
            later = min(i + 1, count - 1)
            if i + 1 < count:
                forward[i + 1] |= pm.next_forward
            marks[later].update(pm.next_marks)
            names[later] |= pm.next_names
            if "coda" in pm.marks:
                codas.setdefault(i, set()).add(i)
            if "coda" in pm.next_marks:
                codas.setdefault(i, set()).add(later)
            if pm.previous_backward and i > 0:
                backward[i - 1] = max(backward[i - 1], pm.previous_backward)
    if len(codas) >= 2 and not any("tocoda" in m for m in marks):
        first = min(codas)  # no To Coda written: the first coda mark is it, where it is written
        marks[first].add("tocoda")
        for i in codas.pop(first) - set().union(*codas.values()):
            marks[i].discard("coda")
    result = []
    for i in range(count):
        here = [part[i] for part in parts if i < len(part)]
        first = here[0]
        end = max(pm.end for pm in here)
        meter = first.meter or 4.0
        tempos: list[tuple[float, float]] = []
        for pm in here:  # of a part's marks at one position the last written wins; one another part repeats counts once
            tempos.extend(tempo for tempo in reversed(dict.fromkeys(reversed(pm.tempos))) if tempo not in tempos)
        tempos.sort(key=lambda tempo: tempo[0])  # stable
        fermatas: dict[float, float] = {}
        for pm in here:
            for at, duration in pm.fermatas.items():
                fermatas[at] = max(fermatas.get(at, 0.0), duration)
        endings = sorted(set().union(*(pm.endings for pm in here)))
        length = round(end, 9) if math.isfinite(end) else 0.0
        if not length > 0:
            length = meter
        result.append(
            XmlMeasure(
                index=i,
                number=first.number,
                length=length,
                tempos=tuple(tempos),
                fermatas=tuple(sorted(fermatas.items())),
                repeat_forward=forward[i],
                repeat_backward=backward[i] > 0,
                times=backward[i] or 2,
                endings=tuple(endings),
                segno="segno" in marks[i],
                coda="coda" in marks[i],
                fine="fine" in marks[i],
                dacapo="dacapo" in marks[i],
                dalsegno="dalsegno" in marks[i],
                tocoda="tocoda" in marks[i],
                meter_length=meter,
                names=frozenset(name for name in names[i] if name[0] in marks[i]),
                notes=tuple(
                    XmlNote(p, e.staff, e.voice, round(e.at, 9), round(e.duration, 9), tuple(sorted(e.pitches)))
                    for p, part in enumerate(parts) if i < len(part) for e in part[i].notes
                ),
            )
        )
    return tuple(result)
