"""The examples the per-example checks see: each shard row with its page as ink and its audio
decoded (soundfile, not ``datasets``' Audio decoding, which needs torchcodec)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import soundfile
from PIL import Image


@dataclass(frozen=True)
class Row:
    """One example as the checks see it.

    row: the shard row (column -> value, as pyarrow gives it; image and audio still encoded)
    ink: float32 array (height, width), 0 white paper .. 1 black ink
    samples: float32 array (frames,), mono audio
    rate: samples per second
    """

    row: dict
    ink: np.ndarray
    samples: np.ndarray
    rate: int

    @property
    def where(self) -> str:
        """The example, as problems name it: score, page, visit, soundfont, tempo ratio."""
        r = self.row
        return f"{r.get('score_id')} p{r.get('page')} visit {r.get('visit')} ({r.get('soundfont')}, x{r.get('tempo_ratio')})"


def count_rows(by_split: dict[str, list[Path]], limit: int | None) -> int:
    total = sum(pq.ParquetFile(s).metadata.num_rows for files in by_split.values() for s in files)
    return total if limit is None else min(total, limit)


def read_rows(by_split: dict[str, list[Path]], limit: int | None = None) -> Iterator[Row]:
    """The rows of the shards of ``by_split`` in order, decoded, at most ``limit`` of them."""
    seen = 0
    for files in by_split.values():
        for shard in files:
            for batch in pq.ParquetFile(shard).iter_batches(batch_size=4):
                for row in batch.to_pylist():
                    if limit is not None and seen >= limit:
                        return
                    seen += 1
                    pixels = np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])).convert("L"), dtype=np.float32)
                    samples, rate = soundfile.read(io.BytesIO(row["audio"]["bytes"]), dtype="float32", always_2d=True)
                    yield Row(row, 1.0 - pixels / 255.0, samples.mean(axis=1), rate)
