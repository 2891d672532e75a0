"""A small typed reader of a built dataset for the package's own trainer (no ``datasets`` needed).

    for example in read_examples("build/pdmx_fusa", "train"):
        example.image      # uint8 array (height, width), greyscale page
        example.audio      # float32 array, mono at example.sample_rate
        example.measures   # boxes and times of every measure played
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import soundfile
from PIL import Image

from .records import Box


@dataclass(frozen=True)
class ExampleMeasure:
    number: str
    engraved_id: str
    system: int
    staff_boxes: tuple[Box, ...]
    box: Box
    onset: float  # seconds in the example's audio
    offset: float


@dataclass(frozen=True)
class Example:
    score_id: str
    page: int  # 1-based
    visit: int
    split: str
    soundfont: str
    tempo_ratio: float
    image: np.ndarray
    audio: np.ndarray
    sample_rate: int
    midi: bytes
    measures: tuple[ExampleMeasure, ...]
    systems: tuple[Box, ...]
    key_fifths: int
    meter: str
    polyphony: int


def read_examples(dataset: str | Path, split: str) -> Iterator[Example]:
    """Examples of one split in shard order; images and audio decoded as arrays."""
    shards = sorted((Path(dataset) / "data").glob(f"{split}-*.parquet"))
    if not shards:
        raise FileNotFoundError(f"{dataset}: no shards for split {split!r} under data/")
    for shard in shards:
        for batch in pq.ParquetFile(shard).iter_batches(batch_size=16):
            for row in batch.to_pylist():
                audio, rate = soundfile.read(io.BytesIO(row["audio"]["bytes"]), dtype="float32")
                yield Example(
                    score_id=row["score_id"],
                    page=row["page"],
                    visit=row["visit"],
                    split=row["split"],
                    soundfont=row["soundfont"],
                    tempo_ratio=row["tempo_ratio"],
                    image=np.asarray(Image.open(io.BytesIO(row["image"]["bytes"]))),
                    audio=audio,
                    sample_rate=rate,
                    midi=row["midi"],
                    measures=tuple(
                        ExampleMeasure(
                            m["number"], m["engraved_id"], m["system"], tuple(map(tuple, m["staff_boxes"])), tuple(m["box"]), m["onset"], m["offset"]
                        )
                        for m in row["measures"]
                    ),
                    systems=tuple(map(tuple, row["systems"])),
                    key_fifths=row["key_fifths"],
                    meter=row["meter"],
                    polyphony=row["polyphony"],
                )
