"""Typed records passed between the stages of the pipeline.

Each stage is a plain function of one score: it takes one of these records and returns the next.
Times are in seconds at tempo ratio 1.0 unless a field says otherwise; boxes are
``(x0, y0, x1, y1)`` in page pixels of the engraved PNG.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .audio.midi import Midi
from .dataset.schema import Box


@dataclass(frozen=True)
class ScoreRef:
    """One input score, as a source lists it, before anything is loaded."""

    score_id: str  # unique within a build, stable across builds (PDMX id or relative path)
    path: str  # absolute path of the score file
    source: str  # "pdmx", "folder" or "embedded"
    group: str  # duplicates share a group; splits never separate a group
    title: str = ""
    composer: str = ""
    license: str = ""
    rating: float | None = None
    pdmx_id: str = ""


@dataclass(frozen=True)
class Layer:
    """One voice of an engraved measure (an MEI ``<layer>``) as Verovio engraved and timed it: its
    notes and chords in order, rests and grace notes left out."""

    staff: str  # MEI staff @n
    n: str  # MEI layer @n: Verovio keeps the MusicXML <voice> number
    notes: tuple[tuple[str, ...], ...]  # per note or chord: the ids of its notes
    pitches: tuple[tuple[str, ...], ...]  # per note or chord: its written pitches, sorted ("C4", "E4")
    onsets: tuple[float, ...]  # per note or chord: its beat in Verovio's clock, a share of its performed measure (nan: unplayed)
    ends: tuple[float, ...]  # per note or chord: where Verovio ends it, as a share of the same measure (nan: unknown)
    graces: tuple[str, ...] = ()  # ids of the layer's grace notes


@dataclass(frozen=True)
class Measure:
    """One engraved measure as Verovio laid it out."""

    id: str  # MEI xml:id, the same in the SVG, MEI and timemap
    number: str  # the measure's printed number (MEI @n), may be empty
    page: int  # 0-based page index
    key_fifths: int  # key signature in effect: sharps > 0, flats < 0
    meter: str  # time signature in effect, e.g. "3/4"; "" when none is given
    written: int = 1  # the written measures it engraves: more than 1 for a multiple rest
    layers: tuple[Layer, ...] = ()  # its voices, staff by staff


@dataclass(frozen=True)
class Performed:
    """One measure as it is played, repeats unfolded."""

    engraved_id: str  # id of the engraved measure it plays
    onset: float  # seconds from the start of the MIDI
    offset: float  # onset of the next performed measure, or the end of the last note
    polyphony: int  # most notes sounding at once within the measure


@dataclass(frozen=True)
class PerformedNote:
    """One note as it is played (repeats unfolded); a tied continuation is part of its first note."""

    engraved_id: str  # the notated note's id in Verovio's layout (its notehead in the SVG); of the first note of a tie
    measure: int  # index into Score.performance of the performed measure it begins in
    key: int  # MIDI pitch
    velocity: int
    channel: int  # MIDI channel it is played on
    onset: float  # seconds from the start of the MIDI
    offset: float
    grace: bool  # a grace note (acciaccatura or appoggiatura)


@dataclass(frozen=True)
class PageLabels:
    """What a page is in musical terms: the auxiliary targets of the reference model."""

    key_fifths: int  # the key signature most measures of the page carry
    meter: str  # the time signature most measures of the page carry
    polyphony: int  # most notes sounding at once while the page plays


@dataclass(frozen=True)
class Tremolo:
    """A two-note tremolo (MEI ``<fTrem>``): what alternates, and how fast."""

    first: tuple[str, ...]  # engraved ids of its first note or chord
    second: tuple[str, ...]  # of its second
    unit: float  # quarters a stroke lasts (a 32nd: 0.125)


@dataclass(frozen=True)
class Score:
    """Output of ``parse``: one Verovio load, everything later stages need from it."""

    ref: ScoreRef
    title: str  # the source's, else the score's own
    composer: str
    svgs: tuple[str, ...]  # one SVG per page
    measures: tuple[Measure, ...]  # engraved order
    performance: tuple[Performed, ...]  # played order
    notes: tuple[PerformedNote, ...]  # played order (by onset); the same notes as ``midi.notes``
    labels: tuple[PageLabels, ...]  # one per page
    midi: Midi  # the MIDI that is synthesised, the single source of time
    duration: float  # seconds, end of the last note
    fermatas: frozenset[str] = frozenset()  # engraved ids of the notes under a fermata (the performance model holds them)
    tremolos: tuple[Tremolo, ...] = ()  # two-note tremolos (Verovio plays their notes in turn; the timeline alternates them)


@dataclass(frozen=True)
class MeasureBoxes:
    system: int  # 0-based system index on its page
    staves: tuple[Box, ...]
    box: Box


@dataclass(frozen=True)
class Page:
    png: bytes  # greyscale PNG
    width: int
    height: int
    systems: tuple[Box, ...]
    measures: dict[str, MeasureBoxes]  # by engraved measure id
    noteheads: dict[str, Box]  # by engraved note id


@dataclass(frozen=True)
class Engraving:
    """Output of ``engrave``: the raster pages and where every measure lies on them."""

    pages: tuple[Page, ...]


@dataclass(frozen=True)
class Visit:
    """A contiguous run of performed measures that all lie on one page."""

    page: int
    index: int  # 0-based count of earlier visits to the same page
    measures: tuple[int, ...]  # indices into Score.performance
    start: float  # seconds, onset of the first measure
    end: float  # seconds, offset of the last measure


@dataclass(frozen=True)
class AlignedMeasure:
    """One performed measure of a visit: where it lies on the page and when it sounds."""

    number: str  # printed measure number
    engraved_id: str
    boxes: MeasureBoxes
    onset: float  # seconds from the visit's start, tempo ratio 1.0
    offset: float


@dataclass(frozen=True)
class AlignedNote:
    """One performed note of a visit (one its passage plays): its notehead on the page and when it sounds."""

    engraved_id: str  # the notated note (a tie's first note)
    measure: int  # index into the visit's measures: the one its onset lies in
    key: int  # MIDI pitch
    velocity: int
    box: Box | None  # its notehead on the visit's page; None when none is drawn there
    onset: float  # seconds from the visit's start, tempo ratio 1.0
    offset: float  # its end, cut at the visit's end as the passage MIDI cuts it
    grace: bool


@dataclass(frozen=True)
class AlignedVisit:
    """Output of ``align`` for one visit: its measures and its notes, in playing order."""

    measures: tuple[AlignedMeasure, ...]
    notes: tuple[AlignedNote, ...]


@dataclass(frozen=True)
class Rendition:
    """One way of playing a passage: a soundfont piano at a tempo ratio."""

    soundfont: str  # name in soundfonts.txt
    tempo_ratio: float  # playback speed: 1.1 plays 10 % faster, so passages last 1/1.1 as long
    expressive: bool = False  # played by the performance model (stages/performance.py) around that tempo


@dataclass(frozen=True)
class Played:
    """A visit as one rendition plays it: times in seconds of the passage."""

    measures: tuple[tuple[float, float], ...]  # (onset, offset) of each of the visit's measures (within half a tick of the grid)
    notes: tuple[tuple[float, float, int], ...]  # (onset, offset, velocity) of each of the visit's notes, in align's order, on the MIDI's tick grid
    tempo: tuple[float, ...]  # each measure's played tempo over its notated tempo
    end: float  # the visit's end (before the release tail), not rounded


@dataclass(frozen=True)
class Passage:
    """Output of ``render`` for one visit in one rendition."""

    visit: Visit
    rendition: Rendition
    flac: bytes
    midi: bytes  # the events that were synthesised, passage-local time
    duration: float  # seconds of audio
    played: Played  # the times and velocities of ``midi``, measure by measure and note by note


@dataclass
class Failure:
    """A score that did not make it, and why; one row of the failures manifest."""

    score_id: str
    path: str
    stage: str
    reason: str
    tool_versions: dict[str, str] = field(default_factory=dict)
