"""One score through every stage, each step timed and named in its failure; the cache in front
of it and a forked child around it (:mod:`.isolation`)."""

from __future__ import annotations

import errno
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..audio.pianos import PianoPool, load_pianos
from ..audio.soundfonts import Soundfont
from ..config import PipelineConfig
from ..records import Failure, ScoreRef
from ..stages import Rejected
from ..stages.align import align
from ..stages.engrave import engrave
from ..stages.examples import examples
from ..stages.parse import parse
from ..stages.plan import plan
from ..stages.render import render
from ..stages.split import piece_key, split
from ..stages.timeline import timeline
from ..stages.visits import visits
from ..versions import tool_versions
from .cache import entry, lookup, save, score_key
from .isolation import Ended, call_isolated, inject
from .shards import stage


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
    cached: bool = False  # taken from an earlier build
    disk_full: str = ""  # the path a write found no space at: the build stops, the score is not failed


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
        score = timed("timeline", timeline, score, cfg.parse)
        engraving = timed("engrave", engrave, score, cfg.engrave)
        found = timed("visits", visits, score, engraving)
        aligned = timed("align", align, score, engraving, found)
        outcome.split = timed("split", split, piece_key(ref, score.title, score.composer), cfg.splits)
        planned = timed("plan", plan, ref.score_id, found, outcome.split, fonts, cfg.render)
        passages = timed("render", render, score, planned, PianoPool(fonts, cfg.render.sample_rate), cfg.render)
        rows = timed("examples", examples, score, engraving, aligned, passages, outcome.split)
        timed("write", stage, rows, target)
    except Exception as err:  # noqa: BLE001 - every failure of one score is recorded, none stops the build
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            outcome.disk_full = str(err.filename or target)
            return outcome
        if isinstance(err, Rejected):
            reason = str(err)
        elif isinstance(err, MemoryError):
            reason = f"memory limit ({cfg.run.memory_mb} MiB)"
        else:
            reason = f"{type(err).__name__}: {err}"
        outcome.failure = Failure(ref.score_id, ref.path, step, reason, tool_versions())
        return outcome
    outcome.staged = str(target)
    outcome.examples = len(rows)
    outcome.audio_seconds = sum(p.duration for p in passages)
    return outcome


def isolated(ref: ScoreRef, cfg: PipelineConfig, fonts: list[Soundfont], cache: Path, faults: dict[str, str]) -> Outcome:
    """:func:`process` in a forked child, so a crash, hang or memory blow-up is one failure row;
    an outcome already in ``cache`` for the same inputs is returned without running anything.

    Every outcome is cached, failures too, but none of a run with injected ``faults``. A failure
    that may depend on a limit (a timeout, the memory limit, a crash or an exit without a result,
    which an allocation refused under the memory limit can cause) is run again once that limit is larger.
    """
    key = score_key(ref, cfg, fonts, tool_versions())
    rows_path, _ = entry(cache, key)
    recorded = lookup(cache, key, ref, cfg.run)
    if recorded is not None:
        kept = {k: v for k, v in recorded.items() if k in _RECORDED}
        return Outcome(ref, staged="" if kept.get("failure") else str(rows_path), cached=True, **kept)
    load_pianos(fonts, cfg.render.sample_rate)  # before forking: the child inherits them
    ended = call_isolated(process, ref, cfg, fonts, rows_path, faults, timeout=cfg.run.timeout_s, memory_mb=cfg.run.memory_mb)
    if isinstance(ended, Ended):
        failure = Failure(ref.score_id, ref.path, ended.stage or "parse", ended.reason, tool_versions())
        outcome = Outcome(ref, failure=failure, peak_rss_mb=ended.peak_rss_mb)
        limited_by = ("timeout_s",) if ended.reason.startswith("timeout") else ("memory_mb",)
    else:
        outcome, outcome.peak_rss_mb = ended
        memory = outcome.failure is not None and outcome.failure.reason.startswith("memory limit")
        limited_by = ("memory_mb",) if memory else ()
    if not faults and (outcome.failure or outcome.staged):  # neither: the run was cut short, nothing to keep
        save(cache, key, ref, {k: v for k, v in asdict(outcome).items() if k in _RECORDED}, cfg.run, limited_by)
    return outcome


_RECORDED = {f.name for f in fields(Outcome)} - {"ref", "staged", "cached"}  # what a cache entry keeps of an outcome
