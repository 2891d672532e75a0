"""``make bench``: CPU seconds per stage and audio throughput of a pipeline (the embedded default).

    python -m pdmx_fusa.bench [PIPELINE] [--workers N] [--set SECTION.KEY=VALUE ...]

Builds into a temporary folder with one worker by default, so per-stage CPU time is that of a
single process, soundfont loading included (in ``render``, once per font).
"""

from __future__ import annotations

import argparse
import collections
import resource
import tempfile
import time

from .build import run
from .config import load_config
from .versions import tool_versions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pdmx_fusa.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("pipeline", nargs="?")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(args.pipeline, [*args.set, f"output.dir='{tmp}/pdmx_fusa'", f"run.workers={args.workers}"])
        cpu_start = time.process_time()
        report = run(cfg, progress=False)
        parent_cpu = time.process_time() - cpu_start
    stages = collections.Counter()
    for outcome in report.outcomes:
        stages.update(outcome.cpu)
    audio = sum(o.audio_seconds for o in report.outcomes)
    pages = sum(s.pages for s in report.stats.values())
    examples = sum(s.examples for s in report.stats.values())
    total = sum(stages.values())
    print(f"pipeline: {args.pipeline or 'embedded default'}, {args.workers} worker(s); " + ", ".join(f"{k} {v}" for k, v in tool_versions().items()))
    print(f"scores {len(report.outcomes)} (failed {len(report.failures)}), pages {pages}, examples {examples}, audio {audio:.0f} s")
    print(f"{'stage':<10} {'CPU s':>8} {'share':>7}")
    for name, seconds in stages.most_common():
        print(f"{name:<10} {seconds:8.2f} {seconds / total:7.1%}")
    print(f"{'total':<10} {total:8.2f}")
    print(f"audio rendered per render CPU second: {audio / stages['render']:.1f} s")
    print(f"audio per total CPU second:           {audio / total:.1f} s")
    print(f"CPU per page: {total / pages:.2f} s; shard writing and card (parent): {parent_cpu - (total if args.workers == 1 else 0):.2f} s")
    print(f"wall: {report.wall_seconds:.1f} s; peak RSS (parent): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
