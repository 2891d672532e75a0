"""``failures.jsonl``: one row per score left out, with its stage and reason."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..records import Failure


def write_failures(out: Path, failures: list[Failure]) -> None:
    """Write ``out/failures.jsonl`` in score-id order (empty when nothing failed)."""
    with open(out / "failures.jsonl", "w", encoding="utf-8") as manifest:
        for f in sorted(failures, key=lambda f: f.score_id):
            manifest.write(json.dumps(asdict(f), ensure_ascii=False, sort_keys=True) + "\n")
