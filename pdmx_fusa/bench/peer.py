"""``make bench-peer``: CPU seconds per minute of music, this pipeline against MuseScore 3's command line.

    python -m pdmx_fusa.bench.peer [--sample N]

The sample: the first N (12) ``score.mxl`` files of ``../shared/corpora/asap-dev`` beside the
repository, sorted by path; without the corpora, the embedded default (music21's corpus).

MuseScore: Debian's ``mscore3``, one ``mscore3 -r 150 -j job.json`` process per score, offscreen,
in scratch HOME/XDG folders, exporting PNG pages 1240 px wide, ``.mpos`` and a 22.05 kHz WAV (the
recipe of ../shared/NOTES.md). CPU: the child's rusage. Music: the WAV's length (release tail
included, which favours MuseScore).

Pipeline: ``build.run`` with one worker on the same files, A4 pages 1240 px wide, one rendition
per page visit (the performed score once) at tempo 1.0 and 22.05 kHz. CPU: the whole run, parent
(soundfont check and loading, shards, card) and the forked per-score children. Music: the
performed measures of every row (last offset minus first onset).

A score either tool fails on is reported and left out of both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import soundfile

from ..build import run
from ..config import load_config
from ..sources import embedded
from ..versions import tool_versions

REPO = Path(__file__).resolve().parents[2]
CORPORA = REPO.parent / "shared" / "corpora"
TARGET = 4.0  # the pipeline's CPU per minute of music is to be a quarter of MuseScore's or less
MSCORE_INI = """[export]
audio\\sampleRate=22050
png\\useTransparency=false

[import]
musicXML\\importBreaks=false
musicXML\\importLayout=false
"""


@dataclass
class Side:
    """One tool's totals over the scores both tools built."""

    tool: str
    scores: int
    pages: int
    music_s: float
    cpu_s: float

    @property
    def cpu_per_minute(self) -> float:
        return self.cpu_s / (self.music_s / 60)


def sample(n: int | None) -> dict[str, Path]:
    """score id -> file: the first ``n`` asap-dev scores by path, else the embedded default."""
    asap = CORPORA / "asap-dev"
    if asap.is_dir():
        files = sorted(asap.rglob("score.mxl"))[: n or 12]
        return {f.relative_to(CORPORA).as_posix(): f for f in files}
    print(f"note: {asap} not found; using the embedded default (music21's corpus) instead")
    corpus = embedded.corpus_dir()
    return {f"music21/{rel}": corpus / rel for rel in embedded.FILES[:n]}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def musescore(score_id: str, path: Path, scratch: Path, env: dict) -> tuple[int, float, float] | str:
    """``(pages, music seconds, CPU seconds)`` of one ``mscore3`` export, or why it failed."""
    out = scratch / "out" / score_id.replace("/", "_")
    out.mkdir(parents=True)
    job = scratch / "job.json"
    job.write_text(json.dumps([{"in": str(path), "out": [str(out / "page.png"), str(out / "m.mpos"), str(out / "a.wav")]}]))
    before = _children_cpu()
    try:
        done = subprocess.run(["mscore3", "-r", "150", "-j", str(job)], env=env, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return "timeout after 600 s"
    cpu = _children_cpu() - before
    pages = len(list(out.glob("page-*.png")))
    if done.returncode != 0 or not pages or not (out / "a.wav").is_file() or not (out / "m.mpos").is_file():
        return f"exit {done.returncode}, {pages} pages: {done.stderr.strip().splitlines()[-1:]}"
    seconds = soundfile.info(str(out / "a.wav")).duration
    events = [int(e.split('"')[0]) for e in (out / "m.mpos").read_text().split('position="')[1:]]
    if not events or seconds < max(events) / 1000:  # a truncated export claims success too
        return f"audio {seconds:.1f} s ends before the last measure ({max(events, default=0) / 1000:.1f} s)"
    shutil.rmtree(out)
    return pages, seconds, cpu


def run_musescore(scores: dict[str, Path]) -> tuple[dict[str, tuple[int, float, float]], dict[str, str], str]:
    """Every score through ``mscore3`` in a scratch home: results, failures and its version."""
    with tempfile.TemporaryDirectory(prefix="bench-peer-mscore-") as tmp:
        scratch = Path(tmp)
        home, runtime = scratch / "home", scratch / "runtime"
        (home / ".config" / "MuseScore").mkdir(parents=True)
        (home / ".config" / "MuseScore" / "MuseScore3.ini").write_text(MSCORE_INI)
        runtime.mkdir(mode=0o700)
        env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(runtime), XDG_CONFIG_HOME=str(home / ".config"),
                   XDG_DATA_HOME=str(home / ".local" / "share"), XDG_CACHE_HOME=str(home / ".cache"), TMPDIR=str(scratch),
                   QT_QPA_PLATFORM="offscreen")
        version = subprocess.run(["mscore3", "--version"], env=env, capture_output=True, text=True).stdout.strip()
        done, failed = {}, {}
        for score_id, path in scores.items():
            result = musescore(score_id, path, scratch, env)
            if isinstance(result, str):
                failed[score_id] = result
            else:
                done[score_id] = result
            said = result if isinstance(result, str) else f"{result[2]:.1f} CPU s, {result[1]:.0f} s of music"
            print(f"  mscore3 {score_id}: {said}", flush=True)
    return done, failed, version


def run_pipeline(scores: dict[str, Path]) -> tuple[Side, dict[str, str], tuple[float, float, float]]:
    """The scores through ``build.run`` (one worker): totals, failures, and CPU of the parent, the
    forked per-score children and the stages within them (sum of ``Outcome.cpu``)."""
    with tempfile.TemporaryDirectory(prefix="bench-peer-pipeline-") as tmp:
        root = Path(tmp, "scores")
        for score_id, path in scores.items():
            (root / score_id).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, root / score_id)
        cfg = load_config(None, [
            "source.kind='folder'", f"source.root={json.dumps(str(root))}", f"output.dir={json.dumps(tmp + '/out')}",
            f"render.soundfonts={json.dumps(str(REPO / 'soundfonts.txt'))}", "run.workers=1", "engrave.width_px=1240",
            "render.sample_rate=22050", "render.renditions_per_visit=1", "render.train_tempo_ratios=[1.0]",
            "render.eval_tempo_ratios=[1.0]", "render.expressive.per_visit=0",
        ])
        parent, children = time.process_time(), _children_cpu()
        report = run(cfg, progress=False)
        parent, children = time.process_time() - parent, _children_cpu() - children
        music = 0.0
        for shard in sorted(Path(report.out, "data").rglob("*.parquet")):
            for measures in pq.read_table(shard, columns=["measures"]).column("measures").to_pylist():
                music += measures[-1]["offset"] - measures[0]["onset"]
    stages = sum(sum(o.cpu.values()) for o in report.outcomes)
    pages = sum(s.pages for s in report.stats.values())
    failed = {f.score_id: f"{f.stage}: {f.reason}" for f in report.failures}
    side = Side("pipeline", len(report.outcomes) - len(failed), pages, music, parent + children)
    return side, failed, (parent, children, stages)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pdmx_fusa.bench.peer", description=__doc__.split("\n\n")[0].strip("`"))
    parser.add_argument("--sample", type=int, default=None, help="number of scores (default: 12 asap-dev scores)")
    args = parser.parse_args(argv)
    scores = sample(args.sample)
    print(f"sample: {len(scores)} scores, {next(iter(scores))} ... {list(scores)[-1]}")
    done, failed, version = run_musescore(scores)
    kept = {k: v for k, v in scores.items() if k in done}
    if not kept:
        raise SystemExit(f"mscore3 failed on every score: {failed}")
    pipeline, lost, split = run_pipeline(kept)
    if lost:  # run again without them, so that both sides cover the same scores
        failed.update({k: f"pipeline: {v}" for k, v in lost.items()})
        kept = {k: v for k, v in kept.items() if k not in lost}
        pipeline, _, split = run_pipeline(kept)
    mscore = Side("MuseScore 3", len(kept), *(sum(done[k][i] for k in kept) for i in range(3)))
    print(f"{version}; " + ", ".join(f"{k} {v}" for k, v in tool_versions().items()))
    for score_id, reason in failed.items():
        print(f"left out of both sides: {score_id}: {reason}")
    print(f"{'tool':<12} {'scores':>6} {'pages':>6} {'music min':>10} {'CPU s':>8} {'CPU s/min':>10}")
    for side in (mscore, pipeline):
        minutes = side.music_s / 60
        print(f"{side.tool:<12} {side.scores:6d} {side.pages:6d} {minutes:10.2f} {side.cpu_s:8.1f} {side.cpu_per_minute:10.2f}")
    print("pipeline CPU s: parent (soundfont check and loading, shards, card) {:.1f}, per-score children {:.1f} "
          "(stages {:.1f})".format(*split))
    ratio = mscore.cpu_per_minute / pipeline.cpu_per_minute
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(f"MuseScore / pipeline, CPU per minute of music: {ratio:.2f}x; target >= {TARGET:g}x: {verdict}")


if __name__ == "__main__":
    main()
