"""A build never harms what the user owns: each case runs the CLI as a user would, with an ordinary
mistake, and checks that nothing it did not write is deleted or changed, that one build writes an
output at a time, and that errors and stops are one line with the documented exit status."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, SOUNDFONTS
from pdmx_fusa import cli
from pdmx_fusa.sources.embedded import corpus_dir

FOLDER = REPO / "pipelines" / "folder.toml"
CLI = Path(sys.executable).with_name("pdmx-fusa")
# the three shortest scores of music21's corpus, a few seconds each
SMALL = ("theoryExercises/TriadExercise.mxl", "demos/two-parts.xml", "schoenberg/opus19/movement6.mxl")


def tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` (links not followed) with its content's sha256, or its link target."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[rel] = "dir"
    return found


@pytest.fixture
def scores(tmp_path) -> Path:
    root = tmp_path / "scores"
    for rel in SMALL:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus_dir() / rel, root / rel)
    return root


def args(scores: Path, out: Path, *more: str) -> list[str]:
    return [
        "build", str(FOLDER), "--output", str(out), "--workers", "1", "--quiet",
        "--set", f"source.root={json.dumps(str(scores))}", "--set", f"render.soundfonts={json.dumps(str(SOUNDFONTS))}", *more,
    ]


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("disk: about")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def sha256sum_ok(out: Path) -> bool:
    return subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=out, capture_output=True).returncode == 0


# --- ownership -------------------------------------------------------------------------------------


def test_a_folder_with_a_data_subfolder_is_never_replaced(scores, tmp_path, capsys):
    victim = tmp_path / "thesis"
    (victim / "data").mkdir(parents=True)
    (victim / "data" / "results.csv").write_text("1,2,3\n")
    (victim / "chapter1.tex").write_text("\\section{Intro}\n")
    before = tree(victim)
    code, err = run_cli(args(scores, victim), capsys)
    assert code == 2 and "not written by pdmx-fusa" in one_line(err) and str(victim) in err
    assert tree(victim) == before
    assert not victim.with_name("thesis.cache").exists(), "refused before any work"


def test_output_above_the_scores_is_refused(scores, capsys):
    before = tree(scores.parent)
    code, err = run_cli(args(scores, scores.parent), capsys)
    assert code == 2 and "holds the source root" in one_line(err)
    assert tree(scores.parent) == before


def test_output_inside_the_scores_is_refused(scores, capsys):
    before = tree(scores)
    code, err = run_cli(args(scores, scores / "ds"), capsys)
    assert code == 2 and "inside the source root" in one_line(err)
    assert tree(scores) == before


@pytest.mark.parametrize("name", ["ds.old", "ds.partial", "ds.lock"])
def test_a_users_file_beside_the_output_survives(scores, tmp_path, capsys, name):
    mine = tmp_path / name
    if name == "ds.lock":
        mine.write_text("my notes\n")
    else:
        (mine / "data").mkdir(parents=True)
        (mine / "data" / "backup.parquet").write_bytes(b"precious")
    before = tree(tmp_path / name) if mine.is_dir() else mine.read_text()
    code, err = run_cli(args(scores, tmp_path / "ds"), capsys)
    assert code == 2 and str(mine) in one_line(err)
    assert (tree(mine) if mine.is_dir() else mine.read_text()) == before


def test_output_that_is_a_file(scores, tmp_path, capsys):
    target = tmp_path / "ds"
    target.write_text("not a folder")
    code, err = run_cli(args(scores, target), capsys)
    assert code == 2 and "not a folder" in one_line(err)
    assert target.read_text() == "not a folder"


def test_unwritable_cache_is_found_before_any_score(scores, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    started = time.perf_counter()
    code, err = run_cli(args(scores, tmp_path / "ds", "--set", f"output.cache={json.dumps(str(blocker / 'cache'))}"), capsys)
    assert code == 2 and "output.cache" in one_line(err) and str(blocker) in err
    assert time.perf_counter() - started < 20
    assert not (tmp_path / "ds").exists() and not (tmp_path / "ds.partial").exists()


def test_symlinked_output_builds_in_its_target_and_rebuilds(scores, tmp_path, capsys):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    link = tmp_path / "ds"
    link.symlink_to(scratch / "ds")
    for _ in range(2):
        code, err = run_cli(args(scores, link, "--set", "source.limit=1"), capsys)
        assert code == 0, err
        assert link.is_symlink() and os.readlink(link) == str(scratch / "ds")
        assert sha256sum_ok(scratch / "ds") and list((scratch / "ds" / "data").glob("*.parquet"))
    assert sorted(p.name for p in scratch.iterdir()) == ["ds", "ds.cache", "ds.lock"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "scores", "scratch"]


def test_all_failed_still_writes_failures(tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.musicxml").write_text("<score-partwise><part")
    (broken / "b.mxl").write_bytes(b"PK\x03\x04 truncated")
    code, err = run_cli(args(broken, tmp_path / "ds"), capsys)
    assert code == 1 and "nothing was built: all 2 scores failed" in one_line(err)
    rows = [json.loads(line) for line in (tmp_path / "ds" / "failures.jsonl").read_text().splitlines()]
    assert sorted(r["score_id"] for r in rows) == ["a.musicxml", "b.mxl"]
    assert sha256sum_ok(tmp_path / "ds")


# --- one build per output ------------------------------------------------------------------------


def start(argv: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [str(CLI), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env or os.environ.copy()
    )


def test_two_builds_at_once(scores, tmp_path):
    out = tmp_path / "ds"
    # the first build holds the output for 15 s: one of its scores hangs until its timeout
    slow = {**os.environ, "PDMX_FUSA_FAULTS": f"render:hang:{SMALL[0]}"}
    first = start(args(scores, out, "--set", "run.timeout_s=15"), env=slow)
    lock = tmp_path / "ds.lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = start(args(scores, out, "--set", "source.limit=2"))
    second_out, second_err = second.communicate(timeout=120)
    first_out, first_err = first.communicate(timeout=300)
    assert second.returncode == 2, second_err
    assert f"PID {first.pid}" in one_line(second_err) and "another build" in second_err
    assert first.returncode == 0, first_err
    assert sha256sum_ok(out)
    assert [json.loads(line)["reason"] for line in (out / "failures.jsonl").read_text().splitlines()] == ["timeout after 15 s"]


# --- stopping --------------------------------------------------------------------------------------


def descendants(pid: int) -> set[int]:
    """Every live process of the session ``pid`` leads."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == pid and fields[0] != "Z":  # session id, state
                    found.add(int(entry.name))
    return found


@pytest.mark.parametrize("number, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_stop_prints_one_line_and_resumes(scores, tmp_path, capsys, number, code):
    out = tmp_path / "ds"
    cache = tmp_path / "ds.cache"
    build = start(args(scores, out, "--workers", "2"))
    deadline = time.monotonic() + 120
    while len(list(cache.glob("*/*.json"))) < 1 and time.monotonic() < deadline and build.poll() is None:
        time.sleep(0.05)
    if number == signal.SIGINT:
        os.killpg(build.pid, number)  # Ctrl-C reaches the whole foreground group
    else:
        os.kill(build.pid, number)
    _, err = build.communicate(timeout=60)
    assert build.returncode == code, err
    line = one_line(err)
    assert line.startswith("pdmx-fusa: interrupted") and "run the same command to resume" in line
    deadline = time.monotonic() + 10
    while descendants(build.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not descendants(build.pid), "orphans left behind"
    assert not (tmp_path / "ds.partial").exists()
    code, err = run_cli(args(scores, out), capsys)
    assert code == 0, err
    assert sha256sum_ok(out)


# --- disk full -------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 12 MiB tmpfs (as root), else None."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full(scores, tmp_path, small_disk, capsys, monkeypatch):
    """The first build fits; the second, of every score, fills the disk: one line naming the
    path, exit 2, no ``.partial`` left, the first dataset intact."""
    from pdmx_fusa.build import preflight, shards

    disk = small_disk or tmp_path / "disk"
    out = disk / "ds"
    code, err = run_cli(args(scores, out, "--set", "source.limit=1"), capsys)
    assert code == 0, err
    before = tree(out)
    monkeypatch.setattr(preflight, "check_disk", lambda plan: None)  # let it start, so the disk fills for real
    if small_disk is None:  # no tmpfs here: the same error, simulated where the shards are written
        def full(*args, **kwargs):
            raise OSError(28, os.strerror(28), str(disk / "ds.partial" / "data"))

        monkeypatch.setattr(shards, "write_shards", full)
    else:
        (disk / "filler").write_bytes(b"\0" * (shutil.disk_usage(disk).free - 2**19))
    code, err = run_cli(args(scores, out), capsys)
    line = one_line(err)
    assert code == 2 and line.startswith("pdmx-fusa: disk full writing") and str(disk) in line
    assert not (disk / "ds.partial").exists()
    assert tree(out) == before and sha256sum_ok(out)


def test_preflight_refuses_a_build_that_cannot_fit(scores, tmp_path, small_disk, capsys):
    if small_disk is None:
        pytest.skip("needs a small tmpfs (root)")
    (small_disk / "filler").write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - 2 * 2**20))
    code, err = run_cli(args(scores, small_disk / "ds"), capsys)
    assert code == 2 and "the build needs about" in one_line(err)
    assert sorted(p.name for p in small_disk.iterdir()) == ["ds.cache", "ds.lock", "filler"]
