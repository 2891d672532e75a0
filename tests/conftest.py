"""Shared fixtures. Real data lives in ``../shared`` beside the repository and is never copied into it."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Before anything imports ``datasets`` or ``huggingface_hub``: never reach for the network (a bare
# dataset name would otherwise wait for the Hub), and keep their caches out of the home folder.
os.environ["HF_HUB_OFFLINE"] = "1"
HF_HOME = os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="pdmx-fusa-tests-hf-")
# Decoded soundfont copies (pdmx_fusa.audio.sf3) are made once per session here, not in the home folder.
XDG_CACHE_HOME = os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="pdmx-fusa-tests-cache-")

import pytest  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
REPO = Path(__file__).resolve().parents[1]
SOUNDFONTS = REPO / "soundfonts.txt"
CORPORA = SHARED / "corpora"
needs_corpora = pytest.mark.skipif(not CORPORA.is_dir(), reason=f"needs {CORPORA} (development data, not part of the repository)")


@pytest.fixture(scope="session", autouse=True)
def _hf_home():
    """Remove the scratch ``HF_HOME`` and ``XDG_CACHE_HOME`` made above once the session is over."""
    yield
    shutil.rmtree(HF_HOME, ignore_errors=True)
    shutil.rmtree(XDG_CACHE_HOME, ignore_errors=True)


def build_config(*overrides: str, pipeline: str | Path | None = None):
    """A pipeline config that does not depend on the working directory: the repository's
    ``soundfonts.txt`` by absolute path, two workers unless an override says otherwise."""
    from pdmx_fusa.config import load_config

    return load_config(pipeline, [f"render.soundfonts={json.dumps(str(SOUNDFONTS))}", "run.workers=2", *overrides])


@dataclass(frozen=True)
class Built:
    """A finished build: its report and the rows of every split, read back from the Parquet shards."""

    report: object  # pdmx_fusa.build.Report
    cfg: object  # pdmx_fusa.config.PipelineConfig
    out: Path
    rows: dict[str, list[dict]]  # split -> rows, in shard order

    def all_rows(self) -> list[dict]:
        return [row for rows in self.rows.values() for row in rows]


def read_build(report, cfg) -> Built:
    import pyarrow.parquet as pq

    out = Path(report.out)
    rows: dict[str, list[dict]] = {}
    for split in ("train", "validation", "test"):
        for shard in sorted((out / "data").glob(f"{split}-*.parquet")):
            rows.setdefault(split, []).extend(pq.read_table(shard).to_pylist())
    return Built(report, cfg, out, rows)


def build(out: Path, *overrides: str, pipeline: str | Path | None = None) -> Built:
    """Run a build into ``out`` (progress bar off) and read it back."""
    from pdmx_fusa.build import run

    cfg = build_config(f"output.dir={json.dumps(str(out))}", *overrides, pipeline=pipeline)
    return read_build(run(cfg, progress=False), cfg)


@pytest.fixture(scope="session")
def default_build(tmp_path_factory) -> Built:
    """The embedded default (music21's 13 piano scores), built once per session with two workers,
    into a folder named ``pdmx_fusa`` (so that ``load_dataset("pdmx_fusa")`` finds it from its parent)."""
    if importlib.util.find_spec("music21") is None:
        pytest.skip("the embedded default needs music21")
    return build(tmp_path_factory.mktemp("default") / "pdmx_fusa")


@dataclass(frozen=True)
class PdmxRelease:
    root: Path
    cids: dict[str, str]  # role -> CID
    rows: dict[str, dict[str, str]]  # role -> the CSV row as written


def _cid(role: str) -> str:
    return "Qm" + hashlib.sha256(role.encode()).hexdigest()[:44]


# role -> values that differ from a selectable solo-piano row. The four ``solo*`` rows and the
# ``duplicate`` row carry real scores; the rest must be filtered out by the default selection.
_ROWS = {
    "solo1": {"rating": "4.5", "n_ratings": "3", "subset:rated": "True", "subset:rated_deduplicated": "True"},
    "solo2": {
        "rating": "2.0", "n_ratings": "1", "subset:rated": "True", "subset:rated_deduplicated": "True",
        "title": "", "composer_name": "NA",
        "best_unique_arrangement": "NA", "best_arrangement": "./data/17/57/QmArrangementOfSolo2.json",
    },
    "solo3": {
        "license": "cc-zero", "license_url": "https://creativecommons.org/publicdomain/zero/1.0/",
        "title": "NA", "best_unique_arrangement": "NA", "best_arrangement": "NA", "best_path": "NA",
    },
    "solo4": {"title": "1812", "rating": "NA"},
    "two_pianos": {"tracks": "0-0", "n_tracks": "2"},
    "license_conflict": {"license_conflict": "True", "subset:no_license_conflict": "False"},
    "duplicate": {
        "rating": "3.0", "n_ratings": "2", "subset:rated": "True",
        "is_best_unique_arrangement": "False", "subset:deduplicated": "False",
    },
    "no_mxl": {"mxl": "NA", "subset:all_valid": "False"},
    "escapes": {},
}


def _row(header: list[str], role: str, index: int) -> dict[str, str]:
    cid, p, c = _cid(role), index % 18, index % 58
    data = f"./data/{p}/{c}/{cid}.json"
    row = dict.fromkeys(header, "NA")
    row.update({name: "False" for name in header if name.startswith(("is_", "has_", "subset:"))})
    row.update({
        "path": data,
        "metadata": f"./metadata/{p}/{c}/{cid}.json",
        "mxl": f"./mxl/{p}/{c}/{cid}.mxl",
        "pdf": f"./pdf/{p}/{c}/{cid}.pdf",
        "mid": f"./mid/{p}/{c}/{cid}.mid",
        "version": "3.6.2",
        "n_comments": "0", "n_favorites": "5", "n_views": "120", "n_ratings": "0", "rating": "0.0",
        "license": "publicdomain",
        "license_url": "https://creativecommons.org/licenses/publicdomain/",
        "license_conflict": "False",
        "song_name": f"Song {role}", "title": f"Title {role}",
        "artist_name": f"artist_{role}", "composer_name": f"Composer {role}",
        "complexity": "2", "n_tracks": "1", "tracks": "0",
        "song_length.seconds": "180.0", "song_length.bars": "64", "song_length.beats": "256",
        "best_path": data, "is_best_path": "True",
        "best_arrangement": data, "is_best_arrangement": "True",
        "best_unique_arrangement": data, "is_best_unique_arrangement": "True",
        "subset:all": "True", "subset:deduplicated": "True",
        "subset:no_license_conflict": "True", "subset:all_valid": "True",
    })
    return row


@pytest.fixture
def pdmx_release(tmp_path: Path) -> PdmxRelease:
    """A PDMX-shaped release in ``tmp_path/PDMX``: the real 62-column header, real ``.mxl`` scores."""
    return make_pdmx_release(tmp_path / "PDMX")


@pytest.fixture(scope="session")
def pdmx_release_session(tmp_path_factory) -> PdmxRelease:
    """The same release as ``pdmx_release``, made once per session (for the slow end-to-end builds)."""
    return make_pdmx_release(tmp_path_factory.mktemp("pdmx-release") / "PDMX")


def make_pdmx_release(root: Path) -> PdmxRelease:
    """Write the PDMX-shaped release of ``pdmx_release`` into ``root`` (skips without the shared data)."""
    corpora, header_csv = SHARED / "corpora", SHARED / "pdmx" / "PDMX.header.csv"
    if not corpora.is_dir() or not header_csv.is_file():
        pytest.skip(f"needs {corpora} and {header_csv} (development data, not part of the repository)")
    header = header_csv.read_text(encoding="utf-8").splitlines()[0].split(",")
    scores = sorted((corpora / "asap-dev").rglob("score.mxl"))[:5]
    rows = {role: _row(header, role, index) | values for index, (role, values) in enumerate(_ROWS.items())}
    rows["duplicate"]["best_unique_arrangement"] = rows["solo1"]["path"]
    rows["escapes"]["mxl"] = f"./../outside/{_cid('escapes')}.mxl"
    for role, score in zip(("solo1", "solo2", "solo3", "solo4", "duplicate"), scores):
        target = root / rows[role]["mxl"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(score, target)
    with open(root / "PDMX.csv", "w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows.values())
    return PdmxRelease(root=root, cids={role: _cid(role) for role in rows}, rows=rows)
