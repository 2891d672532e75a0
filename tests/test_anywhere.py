"""The installed command works from any directory: the soundfont list and the pipelines ship inside
the package, relative paths in a pipeline file are relative to that file, an unwritable machine
cache falls back to a temporary folder, a closed stdout pipe ends the command quietly.

The package is built into a wheel and installed into a scratch folder; the command runs from an
unrelated directory with that folder alone on ``PYTHONPATH`` (the repository is not importable there).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO
from pdmx_fusa import __version__, cli, files
from pdmx_fusa.config import ConfigError, PipelineConfig, load_config
from pdmx_fusa.sources.embedded import corpus_dir

SHIPPED = ("soundfonts.txt", "pipelines/default.toml", "pipelines/folder.toml", "pipelines/pdmx.toml")
SMALLEST = "theoryExercises/TriadExercise.mxl"  # music21's smallest piano score: a build of it takes seconds


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A wheel of the package (built from a copy of the repository's files, symlinks kept), installed
    with ``pip install --target``; returns the wheel, the site folder and a scratch cache."""
    root = tmp_path_factory.mktemp("anywhere")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "soundfonts.txt"):
        shutil.copy2(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("pdmx_fusa", "pipelines"):
        shutil.copytree(REPO / name, source / name, symlinks=True, ignore=ignore)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    wheels = root / "wheel"
    subprocess.run([*pip, "wheel", "--no-index", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
                   check=True, cwd=root, timeout=300)
    (wheel,) = wheels.glob("pdmx_fusa-*.whl")
    site = root / "site"
    subprocess.run([*pip, "install", "--no-index", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, cwd=root, timeout=300)
    return {"root": root, "wheel": wheel, "site": site, "cache": root / "cache", "hf": root / "hf"}


def environment(installed: dict, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PDMX_FUSA_TEMPORARY_CACHE")}
    # CI=true as on CI machines, where pyfluidsynth's import used to print to stdout
    env.update(PYTHONPATH=str(installed["site"]), HF_HUB_OFFLINE="1", HF_HOME=str(installed["hf"]),
               XDG_CACHE_HOME=str(installed["cache"]), PYTHONDONTWRITEBYTECODE="1", CI="true")
    env.update(extra)
    return env


def command(installed: dict, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m pdmx_fusa.cli ARGS`` from ``cwd`` with the installed wheel."""
    return subprocess.run([sys.executable, "-m", "pdmx_fusa.cli", *args], cwd=cwd, env=environment(installed, **env),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """An unrelated working directory, holding a folder ``scores`` with one small score."""
    work = tmp_path / "elsewhere"
    (work / "scores").mkdir(parents=True)
    shutil.copyfile(corpus_dir() / SMALLEST, work / "scores" / Path(SMALLEST).name)
    return work


def test_wheel_ships_the_soundfont_list_and_the_pipelines(installed):
    with zipfile.ZipFile(installed["wheel"]) as wheel:
        for name in SHIPPED:
            assert wheel.read(f"pdmx_fusa/{name}") == (REPO / name).read_bytes(), name
    for name in SHIPPED:
        shipped = installed["site"] / "pdmx_fusa" / name
        assert shipped.is_file() and not shipped.is_symlink(), name


def test_editable_tree_ships_the_same_files():
    """In the repository (the editable install) the package's copies are the top-level files."""
    import pdmx_fusa

    package = Path(pdmx_fusa.__file__).parent
    for name in SHIPPED:
        assert (package / name).resolve() == (REPO / name).resolve(), name


def test_installed_package_is_imported_not_the_repository(installed, elsewhere):
    probe = "import json, sys, pdmx_fusa; print(json.dumps([pdmx_fusa.__file__, sys.path]))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=environment(installed),
                          capture_output=True, text=True, check=True)
    module, path = json.loads(done.stdout)
    assert Path(module).is_relative_to(installed["site"])
    repo = REPO.resolve()
    assert not any(entry and Path(entry).resolve() == repo for entry in path)


def test_version(installed, elsewhere):
    done = command(installed, elsewhere, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"pdmx-fusa {__version__}\n"


def test_scores_of_a_shipped_pipeline(installed, elsewhere):
    done = command(installed, elsewhere, "scores", "default")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 13 and all(line.startswith("music21/") for line in lines)
    bare = command(installed, elsewhere, "scores")
    assert bare.returncode == 0 and bare.stdout == done.stdout
    folder = command(installed, elsewhere, "scores", "folder", "--set", "source.root=scores")  # --set: relative to the cwd
    assert folder.returncode == 0, folder.stderr
    assert folder.stdout.split("\t")[0] == Path(SMALLEST).name


def test_unknown_pipeline_name(installed, elsewhere):
    done = command(installed, elsewhere, "build", "nosuch")
    assert done.returncode == 2
    assert done.stderr.startswith("pdmx-fusa: nosuch") and len(done.stderr.splitlines()) == 1
    assert "default" in done.stderr  # the shipped names are listed


def test_build_default_from_anywhere(installed, elsewhere):
    done = command(installed, elsewhere, "build", "default", "--set", "source.kind='folder'", "--set", "source.root=scores",
                   "--set", "source.limit=1", "--workers", "1", "--quiet")
    assert done.returncode == 0, done.stderr
    out = elsewhere / "build" / "pdmx_fusa"
    assert list((out / "data").glob("*.parquet")) and (out / "README.md").is_file()
    assert f"dataset: {out}" in done.stdout
    assert "Traceback" not in done.stderr


def test_relative_paths_in_a_pipeline_file(installed, elsewhere, tmp_path):
    conf = tmp_path.resolve() / "conf"
    (conf / "fonts").mkdir(parents=True)
    shutil.copyfile(REPO / "soundfonts.txt", conf / "fonts" / "list.txt")
    shutil.copytree(elsewhere / "scores", conf / "scores")
    pipeline = conf / "mine.toml"
    pipeline.write_text(
        '[source]\nkind = "folder"\nroot = "scores"\n[render]\nsoundfonts = "fonts/list.txt"\n'
        '[output]\ndir = "out/ds"\ncache = "../cache-of-mine"\n',
        encoding="utf-8",
    )
    cfg = load_config(pipeline)
    assert cfg.source.root == str(conf / "scores")
    assert cfg.render.soundfonts == str(conf / "fonts" / "list.txt")
    assert cfg.output.dir == str(conf / "out" / "ds")
    assert cfg.output.cache == str(conf.parent / "cache-of-mine")
    overridden = load_config(pipeline, ["source.root=scores", "output.dir=here"])  # --set values: relative to the cwd
    assert overridden.source.root == "scores" and overridden.output.dir == "here"

    (elsewhere / "scores").rename(elsewhere / "not-these")  # the cwd's own scores/ must not be read
    done = command(installed, elsewhere, "build", os.path.relpath(pipeline, elsewhere), "--workers", "1", "--quiet")
    assert done.returncode == 0, done.stderr
    assert list((conf / "out" / "ds" / "data").glob("*.parquet"))
    assert (tmp_path / "cache-of-mine").is_dir()
    assert not (elsewhere / "build").exists() and not (elsewhere / "out").exists()


def test_defaults_are_the_shipped_files(tmp_path, monkeypatch):
    import pdmx_fusa

    monkeypatch.chdir(tmp_path)
    package = Path(pdmx_fusa.__file__).parent
    assert Path(PipelineConfig().render.soundfonts).resolve() == (package / "soundfonts.txt").resolve()
    assert PipelineConfig().output.dir == "build/pdmx_fusa"  # relative: to the working directory
    assert load_config("default") == load_config(None) == load_config(REPO / "pipelines" / "default.toml")
    assert load_config("pdmx").source.kind == "pdmx" and load_config("folder.toml").source.kind == "folder"
    (tmp_path / "default").write_text("[run]\nworkers = 3\n", encoding="utf-8")  # an existing file wins over a name
    assert load_config("default").run.workers == 3
    with pytest.raises(ConfigError, match="no such pipeline"):
        load_config("nosuch")


def test_unwritable_machine_cache(installed, elsewhere, tmp_path):
    """A cache folder that cannot be made (its parent is a file, which even root cannot write into):
    one warning, a temporary folder used instead and removed at exit, and the build succeeds."""
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder\n", encoding="utf-8")
    unwritable = blocker / "cache"
    done = command(installed, elsewhere, "build", "default", "--set", "source.kind='folder'", "--set", "source.root=scores",
                   "--set", "source.limit=1", "--workers", "1", "--quiet", XDG_CACHE_HOME=str(unwritable))
    assert done.returncode == 0, done.stderr
    assert list((elsewhere / "build" / "pdmx_fusa" / "data").glob("*.parquet"))
    warnings = [line for line in done.stderr.splitlines() if str(unwritable) in line]
    assert len(warnings) == 1 and "XDG_CACHE_HOME" in warnings[0], done.stderr
    assert "Traceback" not in done.stderr
    temporary = [word for word in warnings[0].split() if word.startswith(("/", "'/")) and "afile" not in word]
    assert temporary and not Path(temporary[0].strip("',;()")).exists()  # removed at exit


def test_machine_cache_falls_back_once(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "cache"))
    monkeypatch.delenv(files.TEMPORARY_CACHE_ENV, raising=False)
    monkeypatch.setattr(files, "_checked", {})
    monkeypatch.setattr(files, "_temporary", None)
    first = files.machine_cache()
    (first / "probe").write_bytes(b"ok")
    assert files.machine_cache() == first
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and str(blocker / "cache") in err and "XDG_CACHE_HOME" in err
    assert os.environ[files.TEMPORARY_CACHE_ENV] == str(first)  # child processes reuse it, without a warning
    files._remove_temporary()
    assert not first.exists()


def test_writable_machine_cache_is_the_configured_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert files.machine_cache() == tmp_path / "xdg" / "pdmx-fusa"
    assert (tmp_path / "xdg" / "pdmx-fusa").is_dir() and capsys.readouterr().err == ""


def test_closed_stdout_pipe_is_quiet(installed, elsewhere):
    env = environment(installed)
    python = f"{sys.executable} -m pdmx_fusa.cli"
    done = subprocess.run(["bash", "-c", f"set +o pipefail; {python} scores default | head -1"], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("music21/") and len(done.stdout.splitlines()) == 1
    assert all(line == "13 scores" for line in done.stderr.splitlines()), done.stderr  # no traceback
    # The reader gone before anything is written: the first flush meets a closed pipe, every time.
    with open(elsewhere / "stderr.txt", "w+") as stderr:
        child = subprocess.Popen([sys.executable, "-m", "pdmx_fusa.cli", "scores", "default"], cwd=elsewhere, env=env,
                                 stdout=subprocess.PIPE, stderr=stderr)
        child.stdout.close()
        code = child.wait(timeout=120)
        stderr.seek(0)
        assert stderr.read() == ""
    assert code == 141


def test_interrupted_build_exits_with_its_code(monkeypatch, capsys):
    from pdmx_fusa.build.run import Interrupted

    def run(cfg, progress):
        raise Interrupted("interrupted (SIGTERM)", 143)

    monkeypatch.setattr(cli, "run", run)
    assert cli.main(["build", "--quiet"]) == 143
    assert capsys.readouterr().err == "pdmx-fusa: interrupted (SIGTERM)\n"


def test_help_mentions_relative_paths(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["build", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "relative to that file's folder" in text and "default, folder, pdmx" in text
