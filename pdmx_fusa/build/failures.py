"""``failures.jsonl``: one row per score left out, with its stage and reason."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..files import printable
from ..records import Failure


def write_failures(out: Path, failures: list[Failure]) -> None:
    """Write ``out/failures.jsonl`` in score-id order (empty when nothing failed); a path whose
    bytes are not UTF-8 is written with them as ``\\xNN``."""
    with open(out / "failures.jsonl", "w", encoding="utf-8") as manifest:
        for f in sorted(failures, key=lambda f: f.score_id):
            manifest.write(json.dumps(asdict(f) | {"path": printable(f.path)}, ensure_ascii=False, sort_keys=True) + "\n")
