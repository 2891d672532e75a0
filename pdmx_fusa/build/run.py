"""Running a pipeline: the scores listed, the output checked and locked, the scores run on an
engine (:mod:`.engines`), and the dataset folder written from the staged rows (shards, card,
failures, checksums) beside the output and swapped in.

Nothing a build did not write is ever deleted or replaced (:mod:`.ownership`); one build at a
time writes an output (:mod:`.lock`); every check that can fail does so before the first score
(:mod:`.preflight`). Ctrl-C or SIGTERM stops it with one line, and the same command resumes.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..audio.soundfonts import read_soundfonts, verify_soundfonts
from ..config import ConfigError, PipelineConfig
from ..files import sync_tree
from ..records import Failure
from ..sources import list_scores, source_root
from ..versions import tool_versions
from . import preflight
from .card import write_card
from .engines import outcomes as run_scores
from .failures import write_failures
from .isolation import FAULTS_ENV, parse_faults
from .lock import exclusive
from .ownership import Layout, check_layout, mark, remove, swap
from .process import Outcome
from .shards import SplitStats, write_checksums, write_shards

_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class BuildError(RuntimeError):
    """The build ran but produced nothing."""


class Interrupted(Exception):
    """The build was stopped by a signal; ``code`` is the exit status (128 + the signal)."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.message, self.code = message, code


@dataclass
class Report:
    out: Path
    stats: dict[str, SplitStats]
    failures: list[Failure]
    outcomes: list[Outcome]
    wall_seconds: float


def run(cfg: PipelineConfig, progress: bool = True) -> Report:
    """Build the dataset ``cfg`` describes into ``cfg.output.dir``, replacing an earlier build there.

    Raises :class:`~pdmx_fusa.config.ConfigError` for a configuration or environment problem
    (before any score runs, or when the disk fills), :class:`BuildError` when every score failed
    (``failures.jsonl`` is written all the same), :class:`Interrupted` on SIGINT or SIGTERM.
    """
    started = time.perf_counter()
    fonts = read_soundfonts(cfg.render.soundfonts)
    verify_soundfonts(fonts)
    try:
        faults = parse_faults(os.environ.get(FAULTS_ENV, ""))
    except ValueError as err:
        raise ConfigError(str(err)) from None
    refs = list_scores(cfg.source)
    if not refs:
        raise ConfigError(f"the {cfg.source.kind} source selected no score")
    layout = Layout.of(cfg.output.dir, cfg.output.cache)
    check_layout(layout, source_root(cfg.source))
    build_id = uuid.uuid4().hex
    try:
        with exclusive(layout.lock, layout.out, build_id), _signals_raise():
            check_layout(layout, None)  # again, now that no other build can change them
            _prepare(layout, build_id, cfg, len(refs), progress)
            try:
                outcomes = _run_scores(refs, cfg, fonts, layout, faults, progress)
                return _finish(outcomes, cfg, fonts, layout, started)
            except OSError as err:
                if err.errno in _DISK_FULL:
                    where = err.filename or layout.out.parent
                    raise ConfigError(f"disk full writing {where}; free space there and run the same command to resume") from None
                raise
            finally:
                remove(layout.partial)  # unless it became the output
    except _Stop as stop:
        raise Interrupted("interrupted; run the same command to resume", stop.code) from None


def _prepare(layout: Layout, build_id: str, cfg: PipelineConfig, scores: int, progress: bool) -> None:
    """Make and mark the cache and a fresh ``.partial`` folder: this proves both writable."""
    for folder, what, key in ((layout.cache, "cache", "output.cache"), (layout.out.parent, "output folder", "output.dir")):
        preflight.check_writable(folder, what, key)
    remove(layout.partial)  # a killed build's
    remove(layout.old)
    if not (layout.cache / ".pdmx-fusa").exists():
        mark(layout.cache, build_id)
    mark(layout.partial, build_id)
    plan = preflight.estimate(cfg, scores, preflight.cache_entries(layout.cache), layout)
    if progress:
        print(plan.describe(scores), file=sys.stderr)
    try:
        preflight.check_disk(plan)
    except ConfigError:
        remove(layout.partial)
        raise


def _run_scores(refs, cfg, fonts, layout: Layout, faults, progress: bool) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with tqdm(total=len(refs), unit="score", desc="build", disable=not progress) as bar:
        try:
            for outcome in run_scores(refs, cfg, fonts, layout.cache, faults):
                if outcome.disk_full:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), outcome.disk_full)
                outcomes.append(outcome)
                bar.update()
                bar.set_postfix(
                    done=sum(not o.failure for o in outcomes), failed=sum(bool(o.failure) for o in outcomes), cached=sum(o.cached for o in outcomes)
                )
        except _Stop as stop:
            bar.close()
            raise Interrupted(f"interrupted: {len(outcomes)} of {len(refs)} scores cached; run the same command to resume", stop.code) from None
    outcomes.sort(key=lambda o: o.ref.score_id)
    return outcomes


def _finish(outcomes: list[Outcome], cfg: PipelineConfig, fonts, layout: Layout, started: float) -> Report:
    """Write shards, failures, card and checksums into ``.partial`` and swap it in."""
    failures = [o.failure for o in outcomes if o.failure]
    built = [o for o in outcomes if not o.failure and o.examples]
    staged = collections.defaultdict(list)
    for o in built:
        staged[o.split].append((o.ref.score_id, Path(o.staged)))
    partial = layout.partial
    stats = write_shards(staged, partial, cfg.output.max_shard_mb * 2**20) if built else {}
    write_failures(partial, failures)
    if built:
        write_card(partial, cfg, stats, fonts, failures, collections.Counter(o.ref.license for o in built), tool_versions())
    write_checksums(partial)
    sync_tree(partial)  # on the disk before it replaces the previous build
    swap(partial, layout)
    if not built:
        reasons = collections.Counter(f"{f.stage}: {f.reason.split(':')[0]}" for f in failures).most_common(3)
        raise BuildError(
            f"nothing was built: all {len(outcomes)} scores failed; {layout.out / 'failures.jsonl'} lists them "
            f"(most common: {'; '.join(f'{n} x {r}' for r, n in reasons)})"
        )
    return Report(layout.out, stats, failures, outcomes, time.perf_counter() - started)


class _Stop(BaseException):
    """Raised in the main thread by SIGINT or SIGTERM."""

    def __init__(self, code: int):
        self.code = code


@contextlib.contextmanager
def _signals_raise():
    """Turn SIGINT and SIGTERM into :class:`_Stop` while the build runs (main thread only)."""

    def stop(number, frame):
        raise _Stop(128 + number)

    try:
        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave the signals alone
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
