"""Integrity: the folder as a whole. Shards against :mod:`..schema`, files against ``SHA256SUMS``,
the card's split counts against the shards, and no piece in two splits. All must hold exactly."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from ..checksums import CHECKSUMS, sha256
from ..schema import SCHEMA, SPLITS
from .report import Check

SHARD = re.compile(r"(?P<split>[a-z]+)-\d{5}-of-\d{5}\.parquet")
CARD = "README.md"


class NotADataset(ValueError):
    """The path given is not a folder a build wrote."""


def shards(root: Path) -> dict[str, list[Path]]:
    """Split -> its Parquet shards under ``root/data``, in order; :class:`NotADataset` if there are none."""
    found: dict[str, list[Path]] = defaultdict(list)
    for shard in sorted((root / "data").glob("*.parquet")) if root.is_dir() else []:
        match = SHARD.fullmatch(shard.name)
        found[match["split"] if match else shard.stem].append(shard)
    if not found:
        raise NotADataset(f"{root}: not a dataset folder (no data/*.parquet shards); give the folder a build wrote, e.g. build/pdmx_fusa")
    return {split: found[split] for split in sorted(found, key=lambda s: (SPLITS.index(s) if s in SPLITS else len(SPLITS), s))}


def check_schema(by_split: dict[str, list[Path]]) -> tuple[Check, dict[str, list[Path]]]:
    """Every shard is a readable Parquet file with exactly the columns and types of
    :data:`..schema.SCHEMA`, in order, and a name ``<split>-NNNNN-of-NNNNN.parquet`` with a known
    split. Returns the check and the readable shards (the other checks read only those)."""
    check = Check("integrity", "schema", "every shard readable, its columns and types equal schema.py's, named <split>-NNNNN-of-NNNNN.parquet")
    wanted = SCHEMA.remove_metadata()
    readable: dict[str, list[Path]] = defaultdict(list)
    for split, files in by_split.items():
        for shard in files:
            if split not in SPLITS or not SHARD.fullmatch(shard.name):
                check.problem(f"{shard.name}: not a shard name of a split in {SPLITS}")
            try:
                found = pq.read_schema(shard).remove_metadata()
            except (OSError, pa.ArrowException) as err:
                check.problem(f"{shard.name}: unreadable Parquet ({err})")
                continue
            readable[split].append(shard)
            if not found.equals(wanted):
                missing = [n for n in wanted.names if n not in found.names]
                extra = [n for n in found.names if n not in wanted.names]
                typed = [n for n in wanted.names if n in found.names and found.field(n).type != wanted.field(n).type]
                check.problem(f"{shard.name}: missing {missing}, extra {extra}, other type {typed}"
                              + ("" if missing or extra or typed else ", other column order"))
    check.figures["shards"] = sum(len(files) for files in by_split.values())
    check.figures["columns"] = len(wanted.names)
    return check, dict(readable)


def check_checksums(root: Path, by_split: dict[str, list[Path]]) -> Check:
    """``SHA256SUMS`` lists the card and every shard (at least), and every file it lists has that digest."""
    check = Check("integrity", "checksums", f"{CHECKSUMS} lists {CARD} and every shard, and each listed file has its digest")
    listing = root / CHECKSUMS
    if not listing.is_file():
        check.problem(f"{CHECKSUMS} missing: write it with `sha256sum` over {CARD}, data/* and failures.jsonl")
        return check
    listed: dict[str, str] = {}
    for number, line in enumerate(listing.read_text(encoding="utf-8").splitlines(), 1):
        digest, _, name = line.partition(" ")
        if not re.fullmatch(r"[0-9a-f]{64}", digest) or not name.strip():
            check.problem(f"{CHECKSUMS} line {number}: not '<sha256>  <path>'")
            continue
        listed[name.strip().lstrip("*")] = digest
    for name, digest in listed.items():
        path = root / name
        if not path.is_file():
            check.problem(f"{name}: listed in {CHECKSUMS} but missing")
        elif sha256(path) != digest:
            check.problem(f"{name}: sha256 differs from {CHECKSUMS}")
    for path in [root / CARD, *(s for files in by_split.values() for s in files)]:
        if path.relative_to(root).as_posix() not in listed:
            check.problem(f"{path.relative_to(root).as_posix()}: not listed in {CHECKSUMS}")
    check.figures["files"] = len(listed)
    return check


def card_metadata(root: Path) -> dict:
    """The YAML front matter of the dataset card ``root/README.md`` ({} when there is none)."""
    path = root / CARD
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if not text.startswith("---\n"):
        return {}
    front, _, _ = text[4:].partition("\n---\n")
    return yaml.safe_load(front) or {}


def check_card_counts(root: Path, by_split: dict[str, list[Path]]) -> Check:
    """The card's ``dataset_info.splits`` declare each split with as many examples as its shards
    hold, and its ``configs`` data_files patterns match exactly the shards."""
    check = Check("integrity", "card_counts", f"{CARD} dataset_info.splits num_examples equal the shards' rows; data_files match the shards")
    rows = {split: sum(pq.ParquetFile(s).metadata.num_rows for s in files) for split, files in by_split.items()}
    meta = card_metadata(root)
    if not meta:
        check.problem(f"{CARD}: no YAML front matter (--- ... ---)")
        return check
    declared = {s.get("name"): s.get("num_examples") for s in (meta.get("dataset_info") or {}).get("splits") or []}
    if declared != rows:
        check.problem(f"{CARD} declares {declared}, the shards hold {rows}")
    matched = set()
    for config in meta.get("configs") or []:
        for entry in config.get("data_files") or []:
            found = {p for p in root.glob(entry.get("path", "")) if p.is_file()}
            if not found:
                check.problem(f"{CARD}: data_files {entry.get('path')!r} matches no file")
            wrong = sorted(p.name for p in found if SHARD.fullmatch(p.name) and SHARD.fullmatch(p.name)["split"] != entry.get("split"))
            if wrong:
                check.problem(f"{CARD}: split {entry.get('split')!r} reads {wrong}")
            matched |= found
    unread = sorted(s.name for files in by_split.values() for s in files if s not in matched)
    if unread:
        check.problem(f"{CARD}: no data_files pattern reads {unread}")
    check.figures.update({f"{split}_examples": count for split, count in rows.items()})
    return check


def normalised_piece(composer: str | None, title: str | None) -> str:
    """``composer|title`` in lower-case ASCII words, so that spellings of one piece meet."""
    def norm(text: str | None) -> str:
        text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
        return " ".join(re.findall(r"[a-z0-9]+", text))

    return f"{norm(composer)}|{norm(title)}"


def check_splits(by_split: dict[str, list[Path]]) -> Check:
    """Each row's ``split`` is its shard's, and no piece is in two splits: by ``piece_id`` where the
    shards have that column, else by normalised composer and title (where either is given), and
    always by ``score_id``."""
    check = Check("integrity", "splits", "each row's split is its shard's; no piece (piece_id, else composer+title) and no score_id in two splits")
    seen: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))  # key kind -> key -> splits
    pieces_by = "composer+title"
    for split, files in by_split.items():
        for shard in files:
            names = pq.read_schema(shard).names
            wanted = [c for c in ("split", "score_id", "piece_id", "composer", "title") if c in names]
            table = pq.read_table(shard, columns=wanted).to_pylist()
            for row in table:
                if row.get("split") != split:
                    check.problem(f"{shard.name}: a row of split {row.get('split')!r} ({row.get('score_id')})")
                seen["score_id"][row.get("score_id")].add(split)
                if row.get("piece_id") is not None:
                    pieces_by = "piece_id"
                    seen["piece"][row["piece_id"]].add(split)
                elif row.get("composer") or row.get("title"):
                    seen["piece"][normalised_piece(row.get("composer"), row.get("title"))].add(split)
    for kind, keys in seen.items():
        for key, splits in keys.items():
            if len(splits) > 1:
                check.problem(f"{kind} {key!r} is in {sorted(splits)}")
    check.figures["pieces"] = len(seen["piece"])
    check.figures["scores"] = len(seen["score_id"])
    check.figures["by_piece_id"] = int(pieces_by == "piece_id")  # 0: by normalised composer and title
    return check
