import importlib.util
import os
from pathlib import Path

import pyarrow as pa
import pytest

from pdmx_fusa.config import ConfigError, SourceConfig
from pdmx_fusa.sources import embedded, list_scores, pdmx

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
needs_corpora = pytest.mark.skipif(not CORPORA.is_dir(), reason=f"needs {CORPORA} (development data)")
needs_music21 = pytest.mark.skipif(importlib.util.find_spec("music21") is None, reason="needs music21")


def select(release, **options) -> list[str]:
    return [ref.score_id for ref in list_scores(SourceConfig(kind="pdmx", root=str(release.root), **options))]


def ids(release, *roles: str) -> list[str]:
    return sorted(release.cids[role] for role in roles)


# --- pdmx -----------------------------------------------------------------------------------------


def test_pdmx_default_selection(pdmx_release):
    refs = list_scores(SourceConfig(kind="pdmx", root=str(pdmx_release.root)))
    assert [ref.score_id for ref in refs] == ids(pdmx_release, "solo1", "solo2", "solo3", "solo4")
    for ref in refs:
        assert ref.source == "pdmx" and ref.pdmx_id == ref.score_id
        path = Path(ref.path)
        assert path.is_absolute() and path.is_file() and path.name == f"{ref.score_id}.mxl"
        assert path.is_relative_to(pdmx_release.root / "mxl")


def test_pdmx_metadata(pdmx_release):
    refs = {ref.score_id: ref for ref in list_scores(SourceConfig(kind="pdmx", root=str(pdmx_release.root)))}
    rows, cids = pdmx_release.rows, pdmx_release.cids
    solo1, solo2, solo3, solo4 = (refs[cids[f"solo{i}"]] for i in range(1, 5))
    assert (solo1.title, solo1.composer, solo1.license, solo1.rating) == (
        "Title solo1", "Composer solo1", "publicdomain", 4.5,
    )
    assert solo1.path == str(pdmx_release.root / rows["solo1"]["mxl"].removeprefix("./"))
    assert solo1.group == rows["solo1"]["best_unique_arrangement"]
    # Empty and NA both fall back: title to song_name, composer to artist_name.
    assert (solo2.title, solo2.composer, solo2.rating) == ("Song solo2", "artist_solo2", 2.0)
    assert solo2.group == "./data/17/57/QmArrangementOfSolo2.json"  # best_arrangement, raw
    assert (solo3.title, solo3.license, solo3.rating) == ("Song solo3", "cc-zero", 0.0)
    assert solo3.group == rows["solo3"]["path"]  # every best_* is NA
    assert (solo4.title, solo4.rating) == ("1812", None)


def test_pdmx_duplicate_shares_group(pdmx_release):
    refs = list_scores(SourceConfig(kind="pdmx", root=str(pdmx_release.root), subsets=("no_license_conflict",)))
    groups = {ref.score_id: ref.group for ref in refs}
    assert groups[pdmx_release.cids["duplicate"]] == groups[pdmx_release.cids["solo1"]]


def test_pdmx_subsets(pdmx_release):
    assert select(pdmx_release, subsets=("rated",)) == ids(pdmx_release, "solo1", "solo2", "duplicate")
    assert select(pdmx_release, subsets=("rated", "deduplicated")) == ids(pdmx_release, "solo1", "solo2")
    # Without subsets only tracks, licence, a present mxl inside the root still select.
    assert select(pdmx_release, subsets=()) == ids(
        pdmx_release, "solo1", "solo2", "solo3", "solo4", "license_conflict", "duplicate"
    )


def test_pdmx_min_rating(pdmx_release):
    assert select(pdmx_release, min_rating=3.0) == ids(pdmx_release, "solo1")
    assert select(pdmx_release, subsets=(), min_rating=3.0) == ids(pdmx_release, "solo1", "duplicate")
    assert select(pdmx_release, min_rating=5.0) == []


def test_pdmx_tracks_and_licenses(pdmx_release):
    assert select(pdmx_release, subsets=(), tracks="0-0") == ids(pdmx_release, "two_pianos")
    assert select(pdmx_release, licenses=("cc-zero",)) == ids(pdmx_release, "solo3")
    assert select(pdmx_release, licenses=()) == []


def test_pdmx_limit(pdmx_release):
    assert select(pdmx_release, limit=2) == ids(pdmx_release, "solo1", "solo2", "solo3", "solo4")[:2]


def test_pdmx_unknown_subset(pdmx_release):
    with pytest.raises(ConfigError, match="unknown subset 'piano'") as err:
        select(pdmx_release, subsets=("deduplicated", "piano"))
    assert "rated_deduplicated" in str(err.value) and "no_license_conflict" in str(err.value)


def test_pdmx_reads_only_needed_columns_as_strings(pdmx_release):
    table = pdmx.read_table(pdmx_release.root / "PDMX.csv", ("rated",))
    assert set(table.column_names) == {*pdmx.COLUMNS, "subset:rated"}
    assert set(table.schema.types) == {pa.string()}
    assert table.num_rows == len(pdmx_release.rows)
    assert table["mxl"].null_count == 1 and table["title"].null_count == 2  # NA and empty


def test_pdmx_missing_csv(tmp_path):
    with pytest.raises(ConfigError, match="PDMX.csv: no such file"):
        list_scores(SourceConfig(kind="pdmx", root=str(tmp_path)))


def test_pdmx_not_a_pdmx_table(tmp_path):
    (tmp_path / "PDMX.csv").write_text("path,mxl\n./a,./b.mxl\n")
    with pytest.raises(ConfigError, match="not a PDMX table"):
        list_scores(SourceConfig(kind="pdmx", root=str(tmp_path)))


# --- dispatch ---------------------------------------------------------------------------------------


def test_unknown_kind():
    with pytest.raises(ConfigError, match="unknown kind 'zip'"):
        list_scores(SourceConfig(kind="zip"))


@pytest.mark.parametrize("kind", ["folder", "pdmx"])
def test_bad_root(tmp_path, kind):
    with pytest.raises(ConfigError, match="source.root: empty"):
        list_scores(SourceConfig(kind=kind))
    missing = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match="no such folder") as err:
        list_scores(SourceConfig(kind=kind, root=str(missing)))
    assert str(missing) in str(err.value)
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="not a folder"):
        list_scores(SourceConfig(kind=kind, root=str(tmp_path / "file")))


# --- folder -----------------------------------------------------------------------------------------


@needs_corpora
def test_folder_humdrum():
    root = CORPORA / "humdrum-piano"
    refs = list_scores(SourceConfig(kind="folder", root=str(root)))
    assert len(refs) == 295
    assert [ref.score_id for ref in refs] == sorted(ref.score_id for ref in refs)
    for ref in refs:
        assert ref.score_id.endswith(".krn") and "/" in ref.score_id and not ref.score_id.startswith("/")
        assert ref.path == str(root.resolve() / ref.score_id) and (ref.source, ref.group) == ("folder", "")


def test_folder_layout(tmp_path):
    root, outside = tmp_path / "scores", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    for name in ("a.krn", "a.mxl", "sub/B.MXL", "notes.txt", "sub/c.mei"):
        (root / name).write_text("x")
    (outside / "far.mxl").write_text("x")
    os.symlink(outside / "far.mxl", root / "far.mxl")
    os.symlink(outside, root / "away")
    os.symlink(root / "sub", root / "again")  # a link to a folder is never entered
    os.symlink(root / "a.mxl", root / "alias.mxl")
    refs = list_scores(SourceConfig(kind="folder", root=str(root)))
    # links named like scores are listed (the parse stage turns them into failure rows, unread);
    # links not named like scores are not
    assert [ref.score_id for ref in refs] == ["a.krn", "a.mxl", "alias.mxl", "far.mxl", "sub/B.MXL", "sub/c.mei"]
    assert all(Path(ref.path).parent.resolve().is_relative_to(root.resolve()) for ref in refs)
    only_krn = list_scores(SourceConfig(kind="folder", root=str(root), extensions=(".KRN",), limit=1))
    assert [ref.score_id for ref in only_krn] == ["a.krn"]


# --- embedded ---------------------------------------------------------------------------------------


@needs_music21
def test_embedded():
    refs = list_scores(SourceConfig())
    assert len(refs) == len(embedded.FILES) == 13
    assert len({ref.score_id for ref in refs}) == 13
    assert [ref.score_id for ref in refs] == sorted(f"music21/{rel}" for rel in embedded.FILES)
    for ref in refs:
        assert Path(ref.path).is_file() and Path(ref.path).is_relative_to(embedded.corpus_dir())
        assert (ref.source, ref.group, ref.license) == ("embedded", "", "public domain (music21 corpus)")
    assert list_scores(SourceConfig(limit=3)) == refs[:3]


def test_embedded_without_music21(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="music21 is not installed"):
        list_scores(SourceConfig())


def test_negative_limit():
    with pytest.raises(ConfigError, match="source.limit"):
        list_scores(SourceConfig(limit=-1))
