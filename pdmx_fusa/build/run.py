"""Running a pipeline: the scores listed, run on an engine (:mod:`.engines`), failures kept, and
the dataset folder written from the staged rows (shards, card, failures, checksums)."""

from __future__ import annotations

import collections
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..audio.soundfonts import read_soundfonts, verify_soundfonts
from ..config import ConfigError, PipelineConfig
from ..records import Failure
from ..sources import list_scores
from ..versions import tool_versions
from .card import write_card
from .engines import outcomes as run_scores
from .failures import write_failures
from .isolation import FAULTS_ENV, parse_faults
from .process import Outcome
from .shards import SplitStats, write_checksums, write_shards


class BuildError(RuntimeError):
    """The build ran but produced nothing."""


@dataclass
class Report:
    out: Path
    stats: dict[str, SplitStats]
    failures: list[Failure]
    outcomes: list[Outcome]
    wall_seconds: float


def run(cfg: PipelineConfig, progress: bool = True) -> Report:
    """Build the dataset ``cfg`` describes into ``cfg.output.dir``, replacing what was there."""
    started = time.perf_counter()
    fonts = read_soundfonts(cfg.render.soundfonts)
    verify_soundfonts(fonts)
    refs = list_scores(cfg.source)
    if not refs:
        raise ConfigError(f"the {cfg.source.kind} source selected no score")
    out = Path(cfg.output.dir).absolute()
    if out.exists() and any(out.iterdir()) and not (out / "data").is_dir():
        raise ConfigError(f"{out}: exists and is not a PDMX-FUSA build; refusing to replace it")
    cache = Path(cfg.output.cache or out.with_name(out.name + ".cache")).absolute()
    try:
        faults = parse_faults(os.environ.get(FAULTS_ENV, ""))
    except ValueError as err:
        raise ConfigError(str(err)) from None
    outcomes = []
    with tqdm(total=len(refs), unit="score", desc="build", disable=not progress) as bar:
        for outcome in run_scores(refs, cfg, fonts, cache, faults):
            outcomes.append(outcome)
            bar.update()
            bar.set_postfix(
                done=sum(not o.failure for o in outcomes), failed=sum(bool(o.failure) for o in outcomes), cached=sum(o.cached for o in outcomes)
            )
    outcomes.sort(key=lambda o: o.ref.score_id)
    failures = [o.failure for o in outcomes if o.failure]
    built = [o for o in outcomes if not o.failure]
    if not any(o.examples for o in built):
        raise BuildError(f"nothing was built: all {len(refs)} scores failed (first: {failures[0].score_id}: {failures[0].reason})")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    staged = collections.defaultdict(list)
    for o in built:
        staged[o.split].append((o.ref.score_id, Path(o.staged)))
    stats = write_shards(staged, partial, cfg.output.max_shard_mb * 2**20)
    write_failures(partial, failures)
    licenses = collections.Counter(o.ref.license for o in built)
    write_card(partial, cfg, stats, fonts, failures, licenses, tool_versions())
    write_checksums(partial)
    _replace(partial, out)
    return Report(out, stats, failures, outcomes, time.perf_counter() - started)


def _replace(new: Path, old: Path) -> None:
    """Put ``new`` where ``old`` was, keeping ``old`` until ``new`` is in place."""
    trash = old.with_name(old.name + ".old")
    shutil.rmtree(trash, ignore_errors=True)
    if old.exists():
        old.rename(trash)
    new.rename(old)
    shutil.rmtree(trash, ignore_errors=True)
