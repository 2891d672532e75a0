"""The dataset's columns, declared once: Hugging Face features, their meaning, and the split names.

Everything that writes or reads a PDMX-FUSA dataset derives from this module: the build's
Parquet writer and card (``pdmx_fusa.build``), the typed reader (:mod:`.reader`), and the column
table of docs/dataset.md (a test holds it to :data:`COLUMNS`). It imports nothing from the
producer side.
"""

from __future__ import annotations

import pyarrow as pa
from datasets import Audio, Features, Image, List, Value

SPLITS = ("train", "validation", "test")

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in page pixels, origin top left
BOX = List(Value("float32"), length=4)

# name -> (feature, meaning)
MEASURE_FIELDS: dict[str, tuple[object, str]] = {
    "number": (Value("string"), "printed measure number (MEI @n)"),
    "engraved_id": (Value("string"), "the engraved measure's id in Verovio's layout; a repeated measure appears again with the same id"),
    "system": (Value("int16"), "index into `systems`"),
    "staff_boxes": (List(BOX), "one [x0, y0, x1, y1] per staff, top line to bottom line, barline to barline"),
    "box": (BOX, "the measure over all its staves"),
    "onset": (Value("float32"), "seconds within `audio`, after tempo scaling"),
    "offset": (Value("float32"), "seconds within `audio`: the next measure's onset, or the end of the last note"),
    "tempo": (Value("float32"), "the tempo it is played at over its notated tempo: `tempo_ratio`, or in an expressive rendition the curve's mean over the measure"),
}

NOTE_FIELDS: dict[str, tuple[object, str]] = {
    "pitch": (Value("int8"), "MIDI note number (60 = middle C)"),
    "onset": (Value("float32"), "seconds within `audio`, after tempo scaling: its note-on in `midi`"),
    "offset": (Value("float32"), "seconds within `audio`: its note-off in `midi` (a note still held at the last measure's offset is cut there)"),
    "velocity": (Value("int8"), "MIDI velocity, 1-127"),
    "measure": (Value("int16"), "index into `measures`: the measure whose [onset, offset) holds its onset"),
    "box": (BOX, "its notehead on `image`, [x0, y0, x1, y1] (a tied note: its first notehead); null when no notehead of it is drawn on this page"),
    "engraved_id": (Value("string"), "the notated note's id in Verovio's layout (a tied note: its first note's); a repeated note appears again with the same id"),
    "grace": (Value("bool"), "a grace note: its onset is where Verovio's MIDI plays it, before or on its principal note"),
}

COLUMNS: dict[str, tuple[object, str]] = {
    "image": (Image(), "the whole engraved page, greyscale PNG"),
    "audio": (Audio(sampling_rate=22050), "the passage as FLAC, mono: its notes, tempo-scaled, plus the release tail"),
    "midi": (Value("binary"), "the passage's events as a type-0 MIDI file (120 bpm, 960 ppq: 1 tick = 1/1920 s), exactly what was synthesised"),
    "measures": (List({name: feature for name, (feature, _) in MEASURE_FIELDS.items()}), "every measure played, in playing order"),
    "notes": (List({name: feature for name, (feature, _) in NOTE_FIELDS.items()}), "every note the passage plays (each MIDI note-on of `midi`), by onset"),
    "systems": (List(BOX), "every system of the page (staff-line extent), [x0, y0, x1, y1]"),
    "key_fifths": (Value("int8"), "key signature most measures of the page carry: sharps > 0, flats < 0"),
    "meter": (Value("string"), "time signature most measures of the page carry, e.g. 3/4; empty where the score gives none"),
    "polyphony": (Value("int16"), "most notes sounding at once while the page plays"),
    "source": (Value("string"), "the kind of source: pdmx, folder or embedded"),
    "score_id": (Value("string"), "the score's id within its source (PDMX id or path relative to the source root)"),
    "pdmx_id": (Value("string"), "the PDMX id, null for other sources"),
    "piece_id": (Value("string"), "the piece (split group): 16 hex digits of a hash of PDMX's duplicate group, else of composer surname and title; a piece's scores share it"),
    "example_id": (Value("string"), "unique and stable: <score_id>#p<page>v<visit>:<soundfont>@<tempo_ratio>, then :expressive for an expressive rendition"),
    "title": (Value("string"), "the source's title, else the score's own header's; null when neither states one"),
    "composer": (Value("string"), "the source's composer, else the score's own header's, in one form per build; null when unknown"),
    "license": (Value("string"), "the score's licence as its source states it; null when it states none"),
    "rating": (Value("float32"), "the PDMX rating, null elsewhere"),
    "page": (Value("int16"), "1-based page number"),
    "n_pages": (Value("int16"), "the score's page count"),
    "visit": (Value("int16"), "0-based: how many earlier visits of this page the performance made (repeats)"),
    "soundfont": (Value("string"), "the piano that plays the audio (a name in soundfonts.txt)"),
    "tempo_ratio": (Value("float64"), "playback speed: 1.1 plays 10 % faster"),
    "expressive": (Value("bool"), "played by the performance model around `tempo_ratio` (tempo curve, ritardandi, fermatas, asynchrony, voicing, pedal); false: constant tempo"),
    "split": (Value("string"), "train, validation or test"),
    "duration": (Value("float32"), "seconds of audio"),
}

# The list-of-structs columns: column -> its struct's fields (the reader derives a record from each)
STRUCT_FIELDS: dict[str, dict[str, tuple[object, str]]] = {"measures": MEASURE_FIELDS, "notes": NOTE_FIELDS}

FEATURES = Features({name: feature for name, (feature, _) in COLUMNS.items()})
SCHEMA: pa.Schema = FEATURES.arrow_schema


def with_sample_rate(sample_rate: int) -> Features:
    """The features with the Audio column declared at ``sample_rate`` (Hz)."""
    features = FEATURES.copy()
    features["audio"] = Audio(sampling_rate=sample_rate)
    return features
