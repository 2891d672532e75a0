"""Where the scores run: in this process, in forked local workers, or on a Dask cluster.

Each engine maps :func:`.process.isolated` over the scores and yields outcomes as they finish;
the output does not depend on the engine nor on the order.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from joblib import Parallel, delayed, parallel_config

from ..audio.pianos import load_pianos
from ..audio.soundfonts import Soundfont
from ..config import PipelineConfig
from ..records import ScoreRef
from .process import Outcome, isolated


def outcomes(refs: list[ScoreRef], cfg: PipelineConfig, fonts: list[Soundfont], cache: Path, faults: dict) -> Iterator[Outcome]:
    """Outcomes of every score as they finish, on the engine ``cfg.run`` selects."""
    # Largest files first, so no worker is left with one long score at the end.
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
    with multiprocessing.get_context("fork").Pool(workers, initializer=_worker_signals) as pool:
        yield from pool.imap_unordered(_call, tasks)


def _worker_signals() -> None:
    """Workers leave Ctrl-C to the build process, which stops them; SIGTERM ends them quietly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _call(task):
    fn, args, kwargs = task
    return fn(*args, **kwargs)


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0
