"""The ``pdmx-fusa`` command.

Each subcommand is one :class:`Command` in :data:`COMMANDS`: its name, its one-line help, a
function that adds its arguments and a handler that returns the exit status. :func:`main` turns
the errors every command shares into exit statuses and one line on stderr.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
from dataclasses import dataclass
from typing import Callable

from . import __version__
from .build import BuildError, run
from .build.run import Interrupted
from .config import ConfigError, load_config, shipped_pipelines
from .files import printable
from .sources import list_scores

EPILOG = """\
pipeline: a pipeline file (TOML), or the name of a shipped one: {shipped}.
  default (also without a pipeline): the solo-piano scores of music21's corpus;
  folder: any folder of .mxl/.musicxml/.xml/.mei/.krn (--set source.root=DIR);
  pdmx: a downloaded PDMX release (--set source.root=/data/PDMX).
  A name that is an existing file is read as that file. Every key has a default; --set overrides
  one, e.g. --set run.workers=8.
paths: relative paths written in a pipeline file (source.root, render.soundfonts, output.dir,
  output.cache) are relative to that file's folder; relative paths given with --set or --output,
  and the defaults, are relative to the working directory: the dataset goes to ./build/pdmx_fusa
  unless a file or --output says otherwise.
Each score runs in its own process (run.timeout_s, run.memory_mb); a score that fails, crashes or
hangs becomes a row of failures.jsonl. Results are cached per score beside the output, so a
killed build resumes where it stopped.
exit status: 0 built, 1 nothing could be built, 2 the configuration or environment is wrong,
130 or 143 stopped by SIGINT or SIGTERM."""

BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a command whose reader went away


@dataclass(frozen=True)
class Command:
    """A subcommand: ``add_arguments(parser)`` declares its arguments, ``handler(args)`` runs it
    and returns the exit status; :class:`ConfigError`, :class:`BuildError` and
    :class:`Interrupted` it raises become statuses 2, 1 and the signal's."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]


def _pipeline_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", nargs="?",
                        help="pipeline file, or a shipped pipeline's name (default, folder, pdmx); default: default")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a pipeline key (TOML value)")


def _build_arguments(parser: argparse.ArgumentParser) -> None:
    _pipeline_arguments(parser)
    parser.add_argument("--output", help="dataset folder to write (output.dir; relative to the working directory)")
    parser.add_argument("--workers", type=int, help="worker processes, 0 = one per core (run.workers)")
    parser.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (run.scheduler)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _config(args: argparse.Namespace):
    """The pipeline of ``args``, with ``--set`` and the build options applied (in that order)."""
    overrides = list(args.set)
    if getattr(args, "output", None):
        overrides.append(f"output.dir={json.dumps(args.output)}")
    if getattr(args, "scheduler", None):
        overrides.append(f"run.scheduler={json.dumps(args.scheduler)}")
    if getattr(args, "workers", None) is not None:
        overrides.append(f"run.workers={args.workers}")
    return load_config(args.pipeline, overrides)


def _build(args: argparse.Namespace) -> int:
    report = run(_config(args), progress=not args.quiet)
    _summary(report)
    return 0


def _scores(args: argparse.Namespace) -> int:
    refs = list_scores(_config(args).source)
    for ref in refs:
        print(f"{ref.score_id}\t{printable(ref.path)}")
    sys.stdout.flush()  # a reader that went away is noticed here, before the count below
    print(f"{len(refs)} scores", file=sys.stderr)
    return 0


def _timeline_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("score", help="a score file (.mxl, .musicxml, .xml, .mei, .krn)")
    parser.add_argument("--json", action="store_true", help="one JSON document {score, measures, notes} (notes always included)")
    parser.add_argument("--notes", action="store_true", help="also list every note: pitch, onset, offset, velocity, measure")
    parser.add_argument("--pipeline", help="read the [parse] section of this pipeline (file or shipped name); default: the defaults")
    parser.add_argument("--set", action="append", default=[], metavar="parse.KEY=VALUE",
                        help="override a pipeline key (TOML value), as for build")


def _timeline(args: argparse.Namespace) -> int:
    from .stages import Rejected
    from .stages.timeline_view import performed_score, score_file, timeline_document, timeline_table

    cfg = load_config(args.pipeline, args.set)
    ref = score_file(args.score, cfg.source.extensions)
    try:
        score = performed_score(ref, cfg.parse)
    except Rejected as err:
        raise BuildError(f"{printable(args.score)}: rejected: {err}") from None
    document = timeline_document(score)
    print(json.dumps(document, ensure_ascii=False) if args.json else timeline_table(document, notes=args.notes))
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("build", "run a pipeline and write the dataset folder (Parquet shards, card, failures.jsonl)",
            _build_arguments, _build),
    Command("scores", "list the scores a pipeline selects, without building anything", _pipeline_arguments, _scores),
    Command("timeline", "print a score's performed measures (and notes) with their times, as a build renders them",
            _timeline_arguments, _timeline),
)


def parser() -> argparse.ArgumentParser:
    epilog = EPILOG.format(shipped=", ".join(shipped_pipelines()))
    top = argparse.ArgumentParser(
        prog="pdmx-fusa",
        description="Build PDMX-FUSA: sheet-music pages aligned with audio and MIDI, as Hugging Face Parquet shards.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"pdmx-fusa {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.help, description=command.help, epilog=epilog,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_arguments(sub)
        sub.set_defaults(handler=command.handler)
    return top


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        try:
            code = args.handler(args)
        except ConfigError as err:
            code = _fail(err, 2)
        except BuildError as err:
            code = _fail(err, 1)
        except Interrupted as err:
            code = _fail(err.message, err.code)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader of stdout went away (`pdmx-fusa scores | head -1`): nothing more can be said
        # there, and the flush at exit must not fail again, so stdout becomes /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return BROKEN_PIPE


def _fail(message, code: int) -> int:
    sys.stdout.flush()
    print(f"pdmx-fusa: {message}", file=sys.stderr)
    return code


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


if __name__ == "__main__":
    sys.exit(main())
