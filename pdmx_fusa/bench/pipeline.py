"""``make bench``: what a build costs, against the floor of work that must be done.

    python -m pdmx_fusa.bench.pipeline [--corpora DIR] [--sample N] [--runs N]

For the embedded default and, when ``../shared/corpora`` (or ``--corpora``) exists, a fixed
sample of it (the first N asap-dev scores and every 25th Humdrum score, sorted by path):

- CPU seconds per stage, and the whole build's CPU (one worker, in a fresh process: the build
  process and its per-score children);
- the floor: Verovio's load, SVG pages and MIDI, rasterising the pages to PNG, loading each
  soundfont once, FluidSynth synthesis of the same passages, encoding their audio as FLAC and
  drawing the card's plots, each timed alone; the overhead is everything else, as a share of the
  floor;
- seconds of audio per CPU second, peak memory of a score process and of the build;
- the wall-clock speed-up from one to two workers;
- a projection of the full PDMX-FUSA build in core-hours, with its formula.

Of ``--runs`` (3) interleaved runs, the build and the floor of the run whose total is least, and
the least wall times: on a shared machine a slow spell inflates CPU seconds as well as wall time.

The decoded copies of sf3 soundfonts that a machine's first build makes (:mod:`pdmx_fusa.audio.sf3`)
are made before anything is timed, so that the one- and two-worker builds start alike.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

import soundfile

from ..audio.pianos import load_pianos
from ..audio.sf3 import default_cache
from ..audio.soundfonts import read_soundfonts
from ..audio.synth import Piano
from ..build import Report, run
from ..build.isolation import Ended, call_isolated
from ..config import load_config
from ..engraving.raster import rasterise
from ..stages.engrave import engrave, page_png, parse_svg
from ..stages.parse import load, new_toolkit, parse
from ..stages.plan import plan
from ..stages.performance import perform
from ..stages.split import piece_key, split
from ..stages.timeline import timeline
from ..stages.visits import visits as page_visits
from ..versions import tool_versions

PLOTS = "card plots (matplotlib)"
PDMX_SCORES = 116_626  # solo-piano scores PDMX-FUSA selected
PDMX_PAGES_PER_SCORE = 2.5  # its 291,648 examples (one per page) over those scores


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fresh(fn, *args):
    """``fn(*args)`` in a forked process that has loaded nothing (no soundfont above all, which
    would make later loads look free): ``(result, peak RSS MiB)``."""
    ended = call_isolated(lambda *a, on_stage: fn(*a), *args, timeout=24 * 3600, memory_mb=2**20)
    if isinstance(ended, Ended):
        raise SystemExit(f"benchmark step {fn.__name__} ended without a result: {ended.reason}")
    return ended


def timed_build(overrides: list[str], workers: int, tmp: Path) -> tuple[Report, float, float, float]:
    """A build from scratch into the empty folder ``tmp`` (fresh cache and process, as a user's
    run): its report, CPU s (the build process and every process it waited for), wall s, and its
    peak RSS in MiB."""
    cfg = load_config(None, [*overrides, f"output.dir={json.dumps(str(tmp / 'pdmx_fusa'))}", f"run.workers={workers}"])
    cpu, wall = _children_cpu(), time.perf_counter()
    report, peak_mb = fresh(run, cfg, False)
    return report, _children_cpu() - cpu, time.perf_counter() - wall, peak_mb


def floor(report: Report, overrides: list[str]) -> dict[str, float]:
    """CPU seconds of the work no pipeline can skip, for the scores the build made: Verovio's
    load, pages and MIDI, rasterising the pages to PNG, loading each soundfont once (in a process
    that had not), synthesising the same passages (the events the build plays), encoding their
    audio as FLAC, and drawing the card's plots from the build's shards (once per build)."""
    cfg = load_config(None, overrides)
    spent = collections.Counter()
    fonts = read_soundfonts(cfg.render.soundfonts)
    start = time.process_time()
    pianos = {font.name: Piano(font, cfg.render.sample_rate) for font in fonts}
    spent["FluidSynth soundfont loads"] += time.process_time() - start
    for outcome in report.outcomes:
        if outcome.failure:
            continue
        ref = outcome.ref
        start = time.process_time()
        toolkit = new_toolkit(cfg.parse)
        load(toolkit, ref.path)
        svgs = [toolkit.renderToSVG(page) for page in range(1, toolkit.getPageCount() + 1)]
        spent["Verovio load + SVG"] += time.process_time() - start
        start = time.process_time()
        toolkit.renderToMIDI()  # the performance the audio is synthesised from
        spent["Verovio MIDI"] += time.process_time() - start
        start = time.process_time()
        for svg in svgs:
            page_png(rasterise(parse_svg(svg), cfg.engrave.width_px))
        spent["raster to PNG"] += time.process_time() - start
        score = timeline(parse(ref, cfg.parse), cfg.parse)  # the performance the build renders
        visits = page_visits(score, engrave(score, cfg.engrave))
        planned = plan(ref.score_id, visits, split(piece_key(ref, score.title, score.composer), cfg.splits), fonts, cfg.render)
        for visit, rendition in planned:
            played, events = perform(score, visit, rendition, cfg.render)  # the events render plays
            start = time.process_time()
            samples = pianos[rendition.soundfont].play(events, played.end + cfg.render.release_tail_s)
            spent["FluidSynth synthesis"] += time.process_time() - start
            start = time.process_time()
            soundfile.write(io.BytesIO(), samples, cfg.render.sample_rate, format="FLAC", subtype="PCM_16")
            spent["FLAC encoding"] += time.process_time() - start
    start = time.process_time()
    from ..dataset.stats import write_plots  # imported when drawn, as the card's writer does: its import is part of the cost

    write_plots(report.out)  # the build's own shards, redrawn in place
    spent[PLOTS] = time.process_time() - start
    return dict(spent)


def _load_soundfonts(overrides: list[str]) -> int:
    cfg = load_config(None, overrides)
    fonts = read_soundfonts(cfg.render.soundfonts)
    load_pianos(fonts, cfg.render.sample_rate)
    return len(fonts)


def report_sample(name: str, overrides: list[str], runs: int) -> None:
    """Print the figures of one sample from ``runs`` interleaved runs (the build with one worker,
    the floor, the build with two): the build and the floor of the run whose total is least, the
    least wall times. On a shared machine a slow spell inflates CPU seconds too, and the least of
    several is the run it disturbed least."""
    builds, floors, walls_two = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            builds.append(timed_build(overrides, 1, Path(tmp)))
            floors.append(fresh(floor, builds[-1][0], overrides)[0])
        with tempfile.TemporaryDirectory() as tmp:
            walls_two.append(timed_build(overrides, 2, Path(tmp))[2])
    one, cpu, _, worker_mb = min(builds, key=lambda build: build[1])
    wall_one, wall_two = min(build[2] for build in builds), min(walls_two)
    base = min(floors, key=lambda parts: sum(parts.values()))  # a whole run, as the build's
    stages = collections.Counter()
    for outcome in one.outcomes:
        stages.update(outcome.cpu)
    floor_total = sum(base.values())
    audio = sum(o.audio_seconds for o in one.outcomes)
    pages = sum(s.pages for s in one.stats.values())
    print(f"\n== {name}: {len(one.outcomes)} scores ({len(one.failures)} failed), {pages} pages, {audio:.0f} s of audio"
          f" (the least of {runs} runs)")
    print(f"{'stage (child processes)':<28} {'CPU s':>8}")
    for stage, seconds in stages.most_common():
        print(f"{stage:<28} {seconds:8.2f}")
    print(f"{'build total (1 worker)':<28} {cpu:8.2f}   the build process and its score processes")
    print(f"{'floor':<28} {floor_total:8.2f}   " + ", ".join(f"{k} {v:.2f}" for k, v in base.items()))
    print(f"  every run: build total {', '.join(f'{b[1]:.2f}' for b in builds)}; floor {', '.join(f'{sum(f.values()):.2f}' for f in floors)}")
    print(f"overhead beyond the floor:   {cpu - floor_total:8.2f} s = {(cpu - floor_total) / floor_total:.0%} of the floor (target <= 25%)")
    for part, when in (("FluidSynth soundfont loads", "once per worker"), (PLOTS, "once per build")):
        print(f"  (counting the {base[part]:.2f} s of {part}, {when}, as overhead: "
              f"{(cpu - floor_total + base[part]) / (floor_total - base[part]):.0%})")
    print(f"audio per CPU second:        {audio / cpu:8.1f} s")
    print(f"CPU per page:                {cpu / pages:8.2f} s")
    print(f"peak RSS: score process {max(o.peak_rss_mb for o in one.outcomes):.0f} MiB, the build's largest process {worker_mb:.0f} MiB")
    print(f"wall: 1 worker {wall_one:.1f} s, 2 workers {wall_two:.1f} s, speed-up {wall_one / wall_two:.2f}x (target >= 1.8x)")
    hours = PDMX_SCORES * PDMX_PAGES_PER_SCORE * cpu / pages / 3600
    print(f"full PDMX-FUSA: {PDMX_SCORES} scores x {PDMX_PAGES_PER_SCORE} pages x {cpu / pages:.2f} CPU s per page / 3600 = {hours:.0f} core-hours")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pdmx_fusa.bench.pipeline", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "corpora")
    parser.add_argument("--sample", type=int, default=12, help="asap-dev scores in the corpora sample")
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement; the least is reported")
    args = parser.parse_args(argv)
    soundfonts = f"render.soundfonts={json.dumps(str(Path(__file__).resolve().parents[2] / 'soundfonts.txt'))}"
    print("tools: " + ", ".join(f"{k} {v}" for k, v in tool_versions().items()))
    start = time.perf_counter()
    fresh(_load_soundfonts, [soundfonts])
    print(f"soundfonts loaded once in {time.perf_counter() - start:.1f} s, so that decoded copies of sf3 files are in {default_cache()}"
          " before any timing (a machine's first build makes them)")
    report_sample("embedded default", [soundfonts], args.runs)
    if not args.corpora.is_dir():
        print(f"\n(no corpora at {args.corpora}: the corpora sample is skipped)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        sample = sorted((args.corpora / "asap-dev").rglob("*.mxl"))[: args.sample] + sorted((args.corpora / "humdrum-piano").rglob("*.krn"))[::25]
        for i, path in enumerate(sample):
            shutil.copyfile(path, Path(tmp) / f"{i:03d}-{path.parent.name}-{path.name}")
        report_sample(f"corpora sample ({args.sample} asap-dev + every 25th Humdrum)", [soundfonts, "source.kind='folder'", f"source.root={json.dumps(tmp)}"], args.runs)


if __name__ == "__main__":
    main()
