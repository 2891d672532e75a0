"""Per-score staging files and the Parquet shards made from them.

Workers stage each score's rows as an Arrow IPC file, written atomically; the shards are then
written from the staged files in score-id order, so their bytes do not depend on which worker
finished first, nor on whether a file was made by this build or an earlier one.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..files import make_folder, replace_synced, temporary
from ..dataset.checksums import CHECKSUMS
from ..dataset.checksums import write_checksums as write_sums
from ..dataset.schema import SCHEMA, SPLITS
from ..stages.composers import canonical_names
from .ownership import MARKER

_COLUMNS = set(SCHEMA.names)
ROW_GROUP = 32  # rows per Parquet row group: a few pages of images and audio


def stage(rows: list[dict], path: Path) -> None:
    """Write one score's rows; readers never see a half-written file, and the file is on the disk
    (synced, as is its rename) when this returns. Rows must carry exactly the schema's columns
    (Arrow would silently drop an extra key and fill a missing one with null)."""
    for row in rows:
        if row.keys() != _COLUMNS:
            missing, extra = sorted(_COLUMNS - row.keys()), sorted(row.keys() - _COLUMNS)
            raise ValueError(f"row of {row.get('score_id')!r} does not match the schema: missing {missing}, extra {extra}")
    make_folder(path.parent)
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    tmp = temporary(path)
    try:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, SCHEMA) as writer:
            writer.write_table(table)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    replace_synced(tmp, path)  # synced: a cache entry's summary, written next, never outlives its rows


@dataclass
class SplitStats:
    examples: int = 0
    scores: int = 0
    pages: int = 0
    measures: int = 0
    notes: int = 0  # notes the examples play (every MIDI note-on)
    noteheads: int = 0  # of them, those whose notehead is drawn on the example's page (a `box`)
    audio_seconds: float = 0.0
    bytes: int = 0
    shards: int = 0


def write_shards(staged: dict[str, list[tuple[str, Path]]], out: Path, max_shard_bytes: int) -> dict[str, SplitStats]:
    """Write ``data/<split>-NNNNN-of-NNNNN.parquet`` from staged ``(score_id, path)`` files.

    A shard holds whole scores and grows until the next score would pass ``max_shard_bytes``.
    Composer names are written in one form per build (:func:`..stages.composers.canonical_names`).
    """
    (out / "data").mkdir(parents=True, exist_ok=True)
    composers = _composers([path for files in staged.values() for _, path in files])
    stats = {}
    for split in SPLITS:
        files = sorted(staged.get(split, []))
        if not files:
            continue
        shards: list[list[Path]] = [[]]
        size = 0
        for _, path in files:
            file_size = path.stat().st_size
            if shards[-1] and size + file_size > max_shard_bytes:
                shards.append([])
                size = 0
            shards[-1].append(path)
            size += file_size
        s = stats[split] = SplitStats(scores=len(files), shards=len(shards))
        for n, paths in enumerate(shards):
            target = out / "data" / f"{split}-{n:05d}-of-{len(shards):05d}.parquet"
            with pq.ParquetWriter(target, SCHEMA, compression="zstd", write_statistics=False) as writer:
                for path in paths:
                    table = _read(path)
                    named = [composers.get(name, name) for name in table["composer"].to_pylist()]
                    table = table.set_column(SCHEMA.get_field_index("composer"), SCHEMA.field("composer"), pa.array(named, pa.string()))
                    writer.write_table(table, row_group_size=ROW_GROUP)
                    s.examples += table.num_rows
                    s.pages += len(set(zip(table["score_id"].to_pylist(), table["page"].to_pylist())))
                    s.measures += pc.sum(pc.list_value_length(table["measures"])).as_py()
                    notes = pc.list_flatten(table["notes"])
                    s.notes += len(notes)
                    s.noteheads += len(notes) - pc.struct_field(notes, "box").null_count
                    s.audio_seconds += pc.sum(table["duration"]).as_py()
            s.bytes += target.stat().st_size
    return stats


def _read(path: Path) -> pa.Table:
    return pa.ipc.open_file(pa.memory_map(str(path))).read_all()


def _composers(paths: list[Path]) -> dict[str, str]:
    """Each composer name of the staged scores -> its canonical spelling in this build."""
    counts: collections.Counter = collections.Counter()
    for path in paths:
        counts.update(set(_read(path).column("composer").drop_null().to_pylist()))
    return canonical_names(counts)


def write_checksums(out: Path) -> None:
    """``SHA256SUMS`` beside the data, in ``sha256sum -c`` format: every shard, the card, its plots,
    the failures (not the ownership marker, whose build id differs from build to build)."""
    write_sums(out, [p for p in out.rglob("*") if p.is_file() and p.name not in (CHECKSUMS, MARKER)])
