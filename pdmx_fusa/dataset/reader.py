"""A typed reader of a built dataset, derived from :mod:`.schema` (no ``datasets`` needed).

    for example in read_examples("build/pdmx_fusa", "train"):
        example.image        # uint8 array (height, width), greyscale page
        example.audio        # float32 array (samples,), mono at example.sample_rate Hz
        example.measures     # ExampleMeasure records: boxes in page pixels, times in seconds
        example.notes        # ExampleNote records: pitch, times in seconds, notehead box (or None)

:class:`Example` has one field per column of :data:`.schema.COLUMNS` (plus ``sample_rate``), and
each list-of-structs column of :data:`.schema.STRUCT_FIELDS` a record of its own, named after the
column (``measures`` -> :class:`ExampleMeasure`, ``notes`` -> :class:`ExampleNote`), with one field
per field of its struct: a column or field added to the schema appears here without an edit.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import soundfile
from datasets import Audio, Image, List, Value
from PIL import Image as PILImage

from .schema import COLUMNS, STRUCT_FIELDS

_PYTHON = {
    "string": str, "binary": bytes, "bool": bool, "float32": float, "float64": float,
    "int8": int, "int16": int, "int32": int, "int64": int,
}


def _python_type(feature, column: str = "") -> object:
    if isinstance(feature, Image | Audio):
        return np.ndarray
    if isinstance(feature, Value):
        return _PYTHON[feature.dtype]
    if isinstance(feature, List):
        inner = STRUCTS[column] if isinstance(feature.feature, dict) else _python_type(feature.feature)
        return tuple[inner, ...]
    raise TypeError(f"no Python type for feature {feature!r}")


def _record(name: str, fields: dict, doc: str, extra: tuple = ()) -> type:
    cls = dataclasses.make_dataclass(
        name, [(key, _python_type(f, key)) for key, (f, _) in fields.items()] + list(extra), frozen=True
    )
    cls.__doc__ = doc + "\n\n" + "\n".join(f"{key}: {meaning}" for key, (_, meaning) in fields.items())
    cls.__module__ = __name__
    return cls


def _record_name(column: str) -> str:
    """``measures`` -> ``ExampleMeasure``: the record of one element of a list-of-structs column."""
    return "Example" + column.removesuffix("s").title().replace("_", "")


# column -> the record of its elements, e.g. STRUCTS["notes"] is ExampleNote
STRUCTS: dict[str, type] = {
    column: _record(_record_name(column), fields, f"One element of an example's `{column}`: {COLUMNS[column][1]}.")
    for column, fields in STRUCT_FIELDS.items()
}
globals().update({cls.__name__: cls for cls in STRUCTS.values()})  # ExampleMeasure, ExampleNote, ...
ExampleMeasure = STRUCTS["measures"]  # named here too for readers and type checkers
ExampleNote = STRUCTS["notes"]
Example = _record("Example", COLUMNS, "One example: a page visit in one rendition.", (("sample_rate", int),))


def _decode(feature, value, column: str = ""):
    if isinstance(feature, Image):
        return np.asarray(PILImage.open(io.BytesIO(value["bytes"])))
    if isinstance(feature, Audio):
        return soundfile.read(io.BytesIO(value["bytes"]), dtype="float32")[0]
    if isinstance(feature, List) and isinstance(feature.feature, dict):
        record, fields = STRUCTS[column], STRUCT_FIELDS[column]
        return tuple(record(**{k: _decode(f, item[k]) for k, (f, _) in fields.items()}) for item in value)
    if isinstance(feature, List) and value is not None:
        return tuple(_decode(feature.feature, v) for v in value)
    return value


def read_examples(dataset: str | Path, split: str) -> Iterator[Example]:
    """Examples of one split in shard order, images and audio decoded as arrays, read a few rows
    at a time (a split never sits whole in memory).

    Parameters
    ----------
    dataset : folder of a built dataset (its ``data/`` holds the shards)
    split : ``train``, ``validation`` or ``test``
    """
    shards = sorted((Path(dataset) / "data").glob(f"{split}-*.parquet"))
    if not shards:
        raise FileNotFoundError(f"{dataset}: no shards for split {split!r} under data/")
    for shard in shards:
        for batch in pq.ParquetFile(shard).iter_batches(batch_size=16):
            for row in batch.to_pylist():
                rate = soundfile.info(io.BytesIO(row["audio"]["bytes"])).samplerate
                yield Example(**{name: _decode(feature, row[name], name) for name, (feature, _) in COLUMNS.items()}, sample_rate=rate)
