"""The dataset's columns, declared once as Hugging Face features and used for every write."""

from __future__ import annotations

import pyarrow as pa
from datasets import Audio, Features, Image, List, Value

BOX = List(Value("float32"), length=4)  # x0, y0, x1, y1 in page pixels

MEASURE = {
    "number": Value("string"),  # printed measure number (MEI @n)
    "engraved_id": Value("string"),  # the measure's id in Verovio's engraving
    "system": Value("int16"),  # index into ``systems``
    "staff_boxes": List(BOX),
    "box": BOX,
    "onset": Value("float32"),  # seconds within this example's audio
    "offset": Value("float32"),
}

FEATURES = Features(
    {
        "image": Image(),
        "audio": Audio(sampling_rate=22050),
        "midi": Value("binary"),
        "measures": List(MEASURE),
        "systems": List(BOX),
        "key_fifths": Value("int8"),
        "meter": Value("string"),
        "polyphony": Value("int16"),
        "source": Value("string"),
        "score_id": Value("string"),
        "pdmx_id": Value("string"),
        "title": Value("string"),
        "composer": Value("string"),
        "license": Value("string"),
        "rating": Value("float32"),
        "page": Value("int16"),  # 1-based page number
        "n_pages": Value("int16"),
        "visit": Value("int16"),  # 0-based: how many earlier visits of this page the performance made
        "soundfont": Value("string"),
        "tempo_ratio": Value("float64"),
        "split": Value("string"),
        "duration": Value("float32"),  # seconds of audio
    }
)

SCHEMA: pa.Schema = FEATURES.arrow_schema


def with_sample_rate(sample_rate: int) -> Features:
    """The features with the Audio column declared at ``sample_rate``."""
    features = FEATURES.copy()
    features["audio"] = Audio(sampling_rate=sample_rate)
    return features
