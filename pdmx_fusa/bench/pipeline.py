"""``make bench``: what a build costs, against the floor of work that must be done.

    python -m pdmx_fusa.bench.pipeline [--corpora DIR] [--sample N]

For the embedded default and, when ``../shared/corpora`` (or ``--corpora``) exists, a fixed
sample of it (the first N asap-dev scores and every 25th Humdrum score, sorted by path):

- CPU seconds per stage, and the whole build's CPU (one worker, in a fresh process: the build
  process and its per-score children);
- the floor: Verovio's load, SVG pages and MIDI, rasterising the pages to PNG, loading each
  soundfont once and FluidSynth synthesis of the same passages, each timed alone; the overhead
  is everything else, as a share of the floor;
- seconds of audio per CPU second, peak memory of a score process and of the build;
- the wall-clock speed-up from one to two workers;
- a projection of the full PDMX-FUSA build in core-hours, with its formula.

The decoded copies of sf3 soundfonts that a machine's first build makes (:mod:`pdmx_fusa.audio.sf3`)
are made before anything is timed, so that the one- and two-worker builds start alike.
"""

from __future__ import annotations

import argparse
import collections
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

from ..audio.midi import cut_passage
from ..audio.pianos import load_pianos
from ..audio.sf3 import default_cache
from ..audio.soundfonts import read_soundfonts
from ..audio.synth import Piano
from ..build import Report, run
from ..build.isolation import Ended, call_isolated
from ..config import load_config
from ..engraving.raster import rasterise
from ..stages.engrave import engrave, page_png, parse_svg
from ..stages.parse import new_toolkit, parse
from ..stages.plan import plan
from ..stages.render import passage_seconds
from ..stages.split import piece_key, split
from ..stages.visits import visits as page_visits
from ..versions import tool_versions

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


def timed_build(overrides: list[str], workers: int) -> tuple[Report, float, float, float]:
    """A build from scratch (fresh cache and process, as a user's run): its report, CPU s (the
    build process and every process it waited for), wall s, and its peak RSS in MiB."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(None, [*overrides, f"output.dir={json.dumps(tmp + '/pdmx_fusa')}", f"run.workers={workers}"])
        cpu, wall = _children_cpu(), time.perf_counter()
        report, peak_mb = fresh(run, cfg, False)
        return report, _children_cpu() - cpu, time.perf_counter() - wall, peak_mb


def floor(report: Report, overrides: list[str]) -> dict[str, float]:
    """CPU seconds of the work no pipeline can skip, for the scores the build made: Verovio's
    load, pages and MIDI, rasterising the pages to PNG, loading each soundfont once (in a process
    that had not) and synthesising the same passages."""
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
        toolkit.loadFile(ref.path)
        svgs = [toolkit.renderToSVG(page) for page in range(1, toolkit.getPageCount() + 1)]
        spent["Verovio load + SVG"] += time.process_time() - start
        start = time.process_time()
        toolkit.renderToMIDI()  # the performance the audio is synthesised from
        spent["Verovio MIDI"] += time.process_time() - start
        start = time.process_time()
        for svg in svgs:
            page_png(rasterise(parse_svg(svg), cfg.engrave.width_px))
        spent["raster to PNG"] += time.process_time() - start
        score = parse(ref, cfg.parse)
        visits = page_visits(score, engrave(score, cfg.engrave))
        planned = plan(ref.score_id, visits, split(piece_key(ref, score.title, score.composer), cfg.splits), fonts, cfg.render)
        for visit, rendition in planned:
            events = cut_passage(score.midi, visit.start, visit.end, rendition.tempo_ratio)
            seconds = passage_seconds(visit, rendition, cfg.render)
            start = time.process_time()
            pianos[rendition.soundfont].play(events, seconds)
            spent["FluidSynth synthesis"] += time.process_time() - start
    return dict(spent)


def _load_soundfonts(overrides: list[str]) -> int:
    cfg = load_config(None, overrides)
    fonts = read_soundfonts(cfg.render.soundfonts)
    load_pianos(fonts, cfg.render.sample_rate)
    return len(fonts)


def report_sample(name: str, overrides: list[str]) -> None:
    one, cpu, wall_one, worker_mb = timed_build(overrides, 1)
    _, _, wall_two, _ = timed_build(overrides, 2)
    stages = collections.Counter()
    for outcome in one.outcomes:
        stages.update(outcome.cpu)
    base, _ = fresh(floor, one, overrides)
    floor_total = sum(base.values())
    audio = sum(o.audio_seconds for o in one.outcomes)
    pages = sum(s.pages for s in one.stats.values())
    print(f"\n== {name}: {len(one.outcomes)} scores ({len(one.failures)} failed), {pages} pages, {audio:.0f} s of audio")
    print(f"{'stage (child processes)':<28} {'CPU s':>8}")
    for stage, seconds in stages.most_common():
        print(f"{stage:<28} {seconds:8.2f}")
    print(f"{'build total (1 worker)':<28} {cpu:8.2f}   the build process and its score processes")
    print(f"{'floor':<28} {floor_total:8.2f}   " + ", ".join(f"{k} {v:.2f}" for k, v in base.items()))
    print(f"overhead beyond the floor:   {cpu - floor_total:8.2f} s = {(cpu - floor_total) / floor_total:.0%} of the floor (target <= 25%)")
    loads = base["FluidSynth soundfont loads"]
    print(f"  (counting the {loads:.2f} s of soundfont loads, once per worker, as overhead: "
          f"{(cpu - floor_total + loads) / (floor_total - loads):.0%})")
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
    args = parser.parse_args(argv)
    soundfonts = f"render.soundfonts={json.dumps(str(Path(__file__).resolve().parents[2] / 'soundfonts.txt'))}"
    print("tools: " + ", ".join(f"{k} {v}" for k, v in tool_versions().items()))
    start = time.perf_counter()
    fresh(_load_soundfonts, [soundfonts])
    print(f"soundfonts loaded once in {time.perf_counter() - start:.1f} s, so that decoded copies of sf3 files are in {default_cache()}"
          " before any timing (a machine's first build makes them)")
    report_sample("embedded default", [soundfonts])
    if not args.corpora.is_dir():
        print(f"\n(no corpora at {args.corpora}: the corpora sample is skipped)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        sample = sorted((args.corpora / "asap-dev").rglob("*.mxl"))[: args.sample] + sorted((args.corpora / "humdrum-piano").rglob("*.krn"))[::25]
        for i, path in enumerate(sample):
            shutil.copyfile(path, Path(tmp) / f"{i:03d}-{path.parent.name}-{path.name}")
        report_sample(f"corpora sample ({args.sample} asap-dev + every 25th Humdrum)", [soundfonts, "source.kind='folder'", f"source.root={json.dumps(tmp)}"])


if __name__ == "__main__":
    main()
