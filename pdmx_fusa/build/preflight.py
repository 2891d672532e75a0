"""Checks before the first score: the output and the cache writable, enough free disk.

The disk estimate comes from the render plan: pages per score (PDMX averages 2.5), renditions
per visit, the tempo ratios, the page size and the sample rate, with the bytes per page image and
per second of FLAC measured on the embedded default (docs/performance.md).
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError, PipelineConfig
from .ownership import Layout

PAGES_PER_SCORE = 2.5  # PDMX-FUSA: 291,648 examples (one per page visit) from 116,626 scores
SECONDS_PER_VISIT = 32.0  # the embedded default's mean passage length at tempo ratio 1.0
PNG_BYTES_PER_PIXEL = 0.056  # greyscale engraved page: 127 kB at 1240 x 1754 px
FLAC_BYTES_PER_SAMPLE = 1.15  # 16-bit mono piano: 25.4 kB per second at 22.05 kHz
CACHE_OVERHEAD = 1.08  # cache entries (Arrow, uncompressed) against the zstd Parquet shards


@dataclass(frozen=True)
class DiskPlan:
    per_score: int  # estimated bytes of examples per score
    needs: dict[Path, int]  # bytes still to write on each file system, by a folder on it
    free: dict[Path, int]  # bytes free there

    def describe(self, scores: int) -> str:
        total = sum(self.needs.values())
        free = ", ".join(f"{_gb(n)} free at {path}" for path, n in self.free.items())
        return f"disk: about {_gb(total)} to write for {scores} scores ({_mb(self.per_score)} per score); {free}"


def estimate(cfg: PipelineConfig, scores: int, cached: int, layout: Layout) -> DiskPlan:
    """Bytes the build will write: shards for every score and cache entries for the uncached ones."""
    render = cfg.render
    ratios = {"train": render.train_tempo_ratios, "eval": render.eval_tempo_ratios}
    mean_ratio = statistics.mean(statistics.mean(r) for r in ratios.values())
    height = cfg.engrave.width_px * cfg.parse.page_height / cfg.parse.page_width
    image = cfg.engrave.width_px * height * PNG_BYTES_PER_PIXEL
    audio = (SECONDS_PER_VISIT / mean_ratio + render.release_tail_s) * render.sample_rate * FLAC_BYTES_PER_SAMPLE
    per_score = int(PAGES_PER_SCORE * render.renditions_per_visit * (image + audio))
    needs: dict[Path, int] = {}
    free: dict[Path, int] = {}
    for folder, size in ((layout.partial, per_score * scores), (layout.cache, int(per_score * CACHE_OVERHEAD) * max(scores - cached, 0))):
        device = next((p for p in (*needs, folder) if os.stat(p).st_dev == os.stat(folder).st_dev), folder)
        needs[device] = needs.get(device, 0) + size
        free[device] = shutil.disk_usage(device).free
    return DiskPlan(per_score, needs, free)


def check_writable(folder: Path, what: str, key: str) -> None:
    """Prove ``folder`` takes a file (made if missing); else one line naming it and the fix."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".pdmx-fusa-probe-"):
            pass
    except OSError as err:
        raise ConfigError(f"{what} {folder}: not writable ({err.strerror or err}); set {key} to a folder you can write") from None


def check_disk(plan: DiskPlan) -> None:
    """Refuse a build that would not fit (exit 2, before the first score)."""
    for folder, needed in plan.needs.items():
        if plan.free[folder] < needed:
            raise ConfigError(
                f"disk: {_gb(plan.free[folder])} free at {folder}, the build needs about {_gb(needed)} there; "
                "free space, set output.dir and output.cache on a larger disk, or lower source.limit"
            )


def cache_entries(cache: Path) -> int:
    """How many scores the cache already holds (summaries), counted without reading them."""
    try:
        return sum(1 for _ in cache.glob("*/*.json"))
    except OSError:
        return 0


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"

