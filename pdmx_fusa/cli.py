"""The ``pdmx-fusa`` command."""

from __future__ import annotations

import argparse
import collections
import json
import sys

from .build import BuildError, run
from .config import ConfigError, load_config
from .sources import list_scores

EPILOG = """\
pipeline files (TOML) live in pipelines/: default.toml (music21's piano scores), folder.toml
(any folder of .mxl/.musicxml/.xml/.mei/.krn), pdmx.toml (a downloaded PDMX release). Every key
has a default; --set overrides one, e.g. --set source.root=/data/PDMX --set run.workers=8.
Each score runs in its own process (run.timeout_s, run.memory_mb); a score that fails, crashes or
hangs becomes a row of failures.jsonl. Results are cached per score beside the output, so a
killed build resumes where it stopped.
exit status: 0 built, 1 nothing could be built, 2 the configuration is wrong."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pdmx-fusa",
        description="Build PDMX-FUSA: sheet-music pages aligned with audio and MIDI, as Hugging Face Parquet shards.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help in (
        ("build", "run a pipeline and write the dataset folder (Parquet shards, card, failures.jsonl)"),
        ("scores", "list the scores a pipeline selects, without building anything"),
    ):
        command = commands.add_parser(name, help=help, description=help, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_argument("pipeline", nargs="?", help="pipeline file (default: the embedded default)")
        command.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a pipeline key (TOML value)")
        if name == "build":
            command.add_argument("--output", help="dataset folder to write (output.dir)")
            command.add_argument("--workers", type=int, help="worker processes, 0 = one per core (run.workers)")
            command.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (run.scheduler)")
            command.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    overrides = list(args.set)
    if getattr(args, "output", None):
        overrides.append(f"output.dir={json.dumps(args.output)}")
    if getattr(args, "scheduler", None):
        overrides.append(f"run.scheduler={json.dumps(args.scheduler)}")
    if getattr(args, "workers", None) is not None:
        overrides.append(f"run.workers={args.workers}")
    try:
        cfg = load_config(args.pipeline, overrides)
        if args.command == "scores":
            refs = list_scores(cfg.source)
            for ref in refs:
                print(f"{ref.score_id}\t{ref.path}")
            print(f"{len(refs)} scores", file=sys.stderr)
            return 0
        report = run(cfg, progress=not args.quiet)
    except ConfigError as err:
        print(f"pdmx-fusa: {err}", file=sys.stderr)
        return 2
    except BuildError as err:
        print(f"pdmx-fusa: {err}", file=sys.stderr)
        return 1
    _summary(report)
    return 0


def _summary(report) -> None:
    built = sum(1 for o in report.outcomes if not o.failure)
    print(f"built {built} of {len(report.outcomes)} scores in {report.wall_seconds:.0f} s")
    for name, s in report.stats.items():
        print(f"  {name:<10} {s.scores:>6} scores {s.pages:>7} pages {s.examples:>7} examples {s.audio_seconds / 3600:8.2f} h audio")
    if report.failures:
        reasons = collections.Counter(f"{f.stage}: {f.reason.split(':')[0]}" for f in report.failures)
        print(f"  {len(report.failures)} failed (failures.jsonl):")
        for reason, n in reasons.most_common(5):
            print(f"    {n:>6}  {reason}")
    print(f"dataset: {report.out}")
    print(f'load it: datasets.load_dataset("{report.out}")')
