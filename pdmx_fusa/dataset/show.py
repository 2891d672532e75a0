"""One example, seen: a self-contained HTML viewer and a still PNG overlay.

    row, split, index = find_example("build/pdmx_fusa", "3")    # the first split's 4th example
    write_html(row, "example.html")   # page, measure and note boxes, audio player, all inlined
    write_png(row, "example.png")     # the page with measure and note boxes drawn

The HTML page plays the example's own FLAC (a ``data:`` URI: no server, no network), draws every
measure box and notehead box over the page, highlights the measure and the notes under the
playhead as the audio plays, and seeks to a measure's onset when its box is clicked. Column and
field names come from :mod:`.schema`.
"""

from __future__ import annotations

import base64
import html
import io
import json
from importlib import resources
from pathlib import Path

import pyarrow.parquet as pq
from datasets import Value
from PIL import Image, ImageDraw

from .schema import COLUMNS, SPLITS

ID_COLUMN = "example_id"  # a dataset built with this column can be addressed by its values
# the columns shown in the page's header table: every plain value (not the MIDI bytes)
META_COLUMNS = tuple(name for name, (f, _) in COLUMNS.items() if isinstance(f, Value) and f.dtype != "binary")
MEASURE_COLOUR, NOTE_COLOUR = (31, 119, 180), (255, 127, 14)  # RGB, as in the HTML page's style


class ExampleNotFound(LookupError):
    """The dataset folder, the split or the example asked for does not exist."""


def _shards(dataset: Path, split: str) -> list[Path]:
    return sorted((dataset / "data").glob(f"{split}-*.parquet"))


def find_example(dataset: str | Path, example: str, split: str | None = None) -> tuple[dict, str, int]:
    """Read one example of a built dataset as a row of Python values (image and audio as bytes).

    Parameters
    ----------
    dataset : folder of a built dataset (its ``data/`` holds the Parquet shards)
    example : an ``example_id`` value (when the dataset has that column), else an index (0-based)
        within ``split``; an id is looked up first
    split : ``train``, ``validation`` or ``test``; default: the first of these that has shards
        (an ``example_id`` is looked up in every split)

    Returns
    -------
    row : the example, column name -> value, as :meth:`pyarrow.Table.to_pylist` gives it
    split : the split it was found in
    index : its index within that split
    """
    dataset = Path(dataset)
    present = [s for s in SPLITS if _shards(dataset, s)]
    if not present:
        raise ExampleNotFound(f"{dataset}: no Parquet shards under data/; give the folder `pdmx-fusa build` wrote")
    if split is not None and split not in present:
        raise ExampleNotFound(f"{dataset}: no shards for split {split!r}; splits present: {', '.join(present)}")
    for name in [split] if split else present:
        found = _find_id(_shards(dataset, name), example)
        if found is not None:
            row, index = found
            return row, name, index
    split = split or present[0]
    shards = _shards(dataset, split)
    total = sum(pq.ParquetFile(shard).metadata.num_rows for shard in shards)
    if not example.isdigit() or int(example) >= total:
        what = f"an index 0-{total - 1} of split {split!r}" + (f" or an {ID_COLUMN}" if _has_id(shards[0]) else "")
        raise ExampleNotFound(f"{dataset}: no example {example!r}; give {what}")
    index = int(example)
    return _row(shards, index), split, index


def _has_id(shard: Path) -> bool:
    return ID_COLUMN in pq.ParquetFile(shard).schema_arrow.names


def _find_id(shards: list[Path], example: str) -> tuple[dict, int] | None:
    """The row whose ``example_id`` is ``example`` and its index in the split, or None."""
    offset = 0
    for shard in shards:
        if not _has_id(shard):
            return None
        ids = pq.read_table(shard, columns=[ID_COLUMN]).column(ID_COLUMN).to_pylist()
        if example in ids:
            index = offset + ids.index(example)
            return _row(shards, index), index
        offset += len(ids)
    return None


def _row(shards: list[Path], index: int) -> dict:
    """Row ``index`` of the split made of ``shards``, reading only the row group that holds it."""
    for shard in shards:
        file = pq.ParquetFile(shard)
        for group in range(file.num_row_groups):
            rows = file.metadata.row_group(group).num_rows
            if index < rows:
                return file.read_row_group(group).slice(index, 1).to_pylist()[0]
            index -= rows
    raise IndexError(index)


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _script_json(value) -> str:
    """JSON safe inside a ``<script>`` element (no ``</`` to end it early)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def page_html(row: dict) -> str:
    """The viewer of one example as one HTML document, everything inlined.

    Parameters
    ----------
    row : an example as :func:`find_example` returns it
    """
    image = row["image"]["bytes"]
    width, height = Image.open(io.BytesIO(image)).size
    data = {
        "image": _data_uri("image/png", image),
        "audio": _data_uri("audio/flac", row["audio"]["bytes"]),
        "width": width,
        "height": height,
        "meta": {name: row[name] for name in META_COLUMNS if name in row},
        "measures": row["measures"],
        "notes": row["notes"],
    }
    title = f"{row['title'] or row['score_id']}, page {row['page']}"
    template = resources.files(__package__).joinpath("show.html").read_text(encoding="utf-8")
    return template.replace("{{title}}", html.escape(title)).replace("{{data}}", _script_json(data))


def write_html(row: dict, path: str | Path) -> Path:
    """Write :func:`page_html` of ``row`` to ``path`` (UTF-8); returns the path."""
    path = Path(path)
    path.write_text(page_html(row), encoding="utf-8")
    return path


def overlay(row: dict) -> Image.Image:
    """The page of ``row`` in colour with every measure box (numbered) and notehead box drawn."""
    page = Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
    draw = ImageDraw.Draw(page)
    seen = set()
    for measure in row["measures"]:
        box = tuple(measure["box"])
        if box in seen:  # a repeated measure: drawn once
            continue
        seen.add(box)
        draw.rectangle(box, outline=MEASURE_COLOUR, width=2)
        draw.text((box[0] + 3, box[1] - 12), measure["number"] or "", fill=MEASURE_COLOUR)
    for note in row["notes"]:
        if note["box"] is not None:
            draw.rectangle(tuple(note["box"]), outline=NOTE_COLOUR, width=1)
    return page


def write_png(row: dict, path: str | Path) -> Path:
    """Write :func:`overlay` of ``row`` to ``path`` as PNG; returns the path."""
    path = Path(path)
    overlay(row).save(path, format="PNG")
    return path
