"""Running a pipeline: every score through the stages in parallel, failures kept, shards written.

The stages stay plain functions of one score; this module adds what surrounds them: worker
processes forked after the soundfonts are loaded once (or Dask workers, through joblib, each
loading them once), each score in a forked child with a
timeout and a memory limit (``isolation.py``), per-stage CPU time, and a failure row for any
score that raises, crashes or hangs.
"""

from __future__ import annotations

import collections
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from joblib import Parallel, delayed, parallel_config
from tqdm import tqdm

from .config import ConfigError, PipelineConfig
from .isolation import FAULTS_ENV, Ended, call_isolated, inject, parse_faults
from .output.card import write_card
from .cache import entry, load_summary, save_summary, score_key
from .output.shards import SplitStats, stage, write_checksums, write_shards
from .records import Failure, ScoreRef
from .soundfonts import Soundfont, read_soundfonts, verify_soundfonts
from .sources import list_scores
from .stages import Rejected
from .stages.align import align
from .stages.engrave import engrave
from .stages.examples import examples
from .stages.parse import parse
from .stages.plan import plan
from .stages.render import render
from .stages.split import piece_key, split
from .synth import Piano
from .versions import tool_versions


class BuildError(RuntimeError):
    """The build ran but produced nothing."""


@dataclass
class Outcome:
    """What became of one score; the examples themselves are in its staged file."""

    ref: ScoreRef
    split: str = ""
    staged: str = ""
    examples: int = 0
    audio_seconds: float = 0.0
    failure: Failure | None = None
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per stage
    peak_rss_mb: float = 0.0  # of the process that ran this score
    final: bool = True  # the same inputs would give the same outcome: worth caching
    cached: bool = False  # taken from an earlier build


@dataclass
class Report:
    out: Path
    stats: dict[str, SplitStats]
    failures: list[Failure]
    outcomes: list[Outcome]
    wall_seconds: float


_PIANOS: dict[tuple[str, int], Piano] = {}


class PianoPool(dict):
    """This process's soundfonts, each loaded on first use and kept for every later score."""

    def __init__(self, fonts: list[Soundfont], sample_rate: int):
        super().__init__()
        self._fonts = {f.name: f for f in fonts}
        self._rate = sample_rate

    def __missing__(self, name: str) -> Piano:
        font = self._fonts[name]
        key = (repr(font), self._rate)
        if key not in _PIANOS:
            _PIANOS[key] = Piano(font, self._rate)
        self[name] = _PIANOS[key]
        return self[name]


def load_pianos(fonts: list[Soundfont], sample_rate: int) -> None:
    """Load every soundfont into this process, once: processes forked later share them."""
    pianos = PianoPool(fonts, sample_rate)
    for font in fonts:
        pianos[font.name]


def process(
    ref: ScoreRef, cfg: PipelineConfig, fonts: list[Soundfont], target: Path, faults: dict[str, str], on_stage=lambda name: None
) -> Outcome:
    """Run one score through every stage and write its rows to ``target``; any exception becomes a failure.

    ``faults`` maps a stage to a fault to inject before it (tests of the isolation).
    """
    outcome = Outcome(ref)
    step = "parse"

    def timed(name, fn, *args):
        nonlocal step
        step = name
        on_stage(name)
        if name in faults:
            inject(faults[name])
        start = time.process_time()
        result = fn(*args)
        outcome.cpu[name] = outcome.cpu.get(name, 0.0) + time.process_time() - start
        return result

    try:
        score = timed("parse", parse, ref, cfg.parse)
        engraving = timed("engrave", engrave, score, cfg.engrave)
        visits = timed("align", align, score, engraving)
        outcome.split = split(piece_key(ref, score.title, score.composer), cfg.splits)
        planned = plan(ref.score_id, visits, outcome.split, fonts, cfg.render)
        passages = timed("render", render, score.midi, planned, PianoPool(fonts, cfg.render.sample_rate), cfg.render)
        rows = timed("examples", examples, score, engraving, passages, outcome.split)
        timed("write", stage, rows, target)
    except Exception as err:  # noqa: BLE001 - every failure of one score is recorded, none stops the build
        if isinstance(err, Rejected):
            reason = str(err)
        elif isinstance(err, MemoryError):
            reason = f"memory limit ({cfg.run.memory_mb} MiB)"
        else:
            reason = f"{type(err).__name__}: {err}"
        outcome.final = isinstance(err, Rejected)
        outcome.failure = Failure(ref.score_id, ref.path, step, reason, tool_versions())
        return outcome
    outcome.staged = str(target)
    outcome.examples = len(rows)
    outcome.audio_seconds = sum(p.duration for p in passages)
    return outcome


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
    outcomes = []
    with tqdm(total=len(refs), unit="score", desc="build", disable=not progress) as bar:
        for outcome in _map(refs, cfg, fonts, cache):
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
    with open(partial / "failures.jsonl", "w", encoding="utf-8") as manifest:
        for f in failures:
            manifest.write(json.dumps(asdict(f), ensure_ascii=False, sort_keys=True) + "\n")
    licenses = collections.Counter(o.ref.license for o in built)
    write_card(partial, cfg, stats, fonts, failures, licenses, tool_versions())
    write_checksums(partial)
    _replace(partial, out)
    return Report(out, stats, failures, outcomes, time.perf_counter() - started)


def isolated(ref: ScoreRef, cfg: PipelineConfig, fonts: list[Soundfont], cache: Path, faults: dict[str, str]) -> Outcome:
    """:func:`process` in a forked child, so a crash, hang or memory blow-up is one failure row;
    an outcome already in ``cache`` for the same inputs is returned without running anything."""
    rows_path, summary_path = entry(cache, score_key(ref, cfg, fonts, tool_versions()))
    summary = load_summary(summary_path)
    if summary is not None and (summary["failure"] or rows_path.exists()):
        return Outcome(ref, staged="" if summary["failure"] else str(rows_path), cached=True, **summary)
    load_pianos(fonts, cfg.render.sample_rate)  # before forking: the child inherits them
    ended = call_isolated(process, ref, cfg, fonts, rows_path, faults, timeout=cfg.run.timeout_s, memory_mb=cfg.run.memory_mb)
    if isinstance(ended, Ended):
        failure = Failure(ref.score_id, ref.path, ended.stage or "parse", ended.reason, tool_versions())
        return Outcome(ref, failure=failure, peak_rss_mb=ended.peak_rss_mb, final=False)
    outcome, outcome.peak_rss_mb = ended
    if outcome.final and not faults:
        save_summary(summary_path, {k: v for k, v in asdict(outcome).items() if k not in ("ref", "staged", "cached")})
    return outcome


def _map(refs: list[ScoreRef], cfg: PipelineConfig, fonts: list[Soundfont], cache: Path) -> Iterator[Outcome]:
    """Outcomes as they finish: in this process, in forked local workers, or on a Dask cluster."""
    try:
        faults = parse_faults(os.environ.get(FAULTS_ENV, ""))
    except ValueError as err:
        raise ConfigError(str(err)) from None
    # Largest files first, so no worker is left with one long score at the end; the output
    # does not depend on this order.
    refs = sorted(refs, key=lambda ref: -_size(ref.path))
    tasks = [delayed(isolated)(ref, cfg, fonts, cache, faults.get(ref.score_id, {})) for ref in refs]
    if cfg.run.scheduler:
        from distributed import Client

        with Client(cfg.run.scheduler), parallel_config(backend="dask"):
            yield from Parallel(return_as="generator_unordered")(tasks)
        return
    workers = cfg.run.workers or os.cpu_count() or 1
    if workers == 1:
        yield from map(_call, tasks)
        return
    load_pianos(fonts, cfg.render.sample_rate)  # here, once: forked workers start with them and every import
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap_unordered(_call, tasks)


def _call(task):
    fn, args, kwargs = task
    return fn(*args, **kwargs)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _replace(new: Path, old: Path) -> None:
    """Put ``new`` where ``old`` was, keeping ``old`` until ``new`` is in place."""
    trash = old.with_name(old.name + ".old")
    shutil.rmtree(trash, ignore_errors=True)
    if old.exists():
        old.rename(trash)
    new.rename(old)
    shutil.rmtree(trash, ignore_errors=True)
