"""Per-score results kept between builds, so a killed or repeated build redoes only what is missing.

A score's entry is keyed by everything that determines its rows: the input file's bytes, the
source's metadata, the configuration sections that shape examples, the soundfont list and the
tool versions. An entry is an Arrow file of rows plus a JSON summary written after it: a summary
that exists always has its rows complete (both are written to a temporary name and renamed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from ..config import PipelineConfig
from ..files import write_atomic
from ..records import Failure, ScoreRef
from ..audio.soundfonts import Soundfont


def score_key(ref: ScoreRef, cfg: PipelineConfig, fonts: list[Soundfont], versions: dict[str, str]) -> str:
    digest = hashlib.sha256()
    try:
        with open(ref.path, "rb") as stream:
            digest.update(hashlib.file_digest(stream, "sha256").digest())
    except OSError as err:  # the parse stage reports it; the key still has to exist
        digest.update(f"unreadable: {err}".encode())
    render = {k: v for k, v in dataclasses.asdict(cfg.render).items() if k != "soundfonts"}
    shaping = {
        "ref": dataclasses.asdict(ref),
        "parse": dataclasses.asdict(cfg.parse),
        "engrave": dataclasses.asdict(cfg.engrave),
        "render": render,
        "splits": dataclasses.asdict(cfg.splits),
        "fonts": [dataclasses.asdict(f) for f in fonts],
        "versions": versions,
    }
    digest.update(json.dumps(shaping, sort_keys=True).encode())
    return digest.hexdigest()


def entry(cache: Path, key: str) -> tuple[Path, Path]:
    """The rows file and the summary file of a cache entry."""
    folder = cache / key[:2]
    return folder / f"{key}.arrow", folder / f"{key}.json"


def load_summary(path: Path) -> dict | None:
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if summary.get("failure"):
        summary["failure"] = Failure(**summary["failure"])
    return summary


def save_summary(path: Path, summary: dict) -> None:
    write_atomic(path, json.dumps(summary, sort_keys=True).encode())
