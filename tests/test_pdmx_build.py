"""A PDMX-shaped release (the ``pdmx_release`` rows, real MuseScore scores) built end to end."""

from __future__ import annotations

import json
import re

import pytest

from conftest import build
from pdmx_fusa.config import SplitConfig, SourceConfig
from pdmx_fusa.sources import list_scores
from pdmx_fusa.stages.split import split

SOLO = ("solo1", "solo2", "solo3", "solo4")


def pdmx_overrides(release, *more: str) -> list[str]:
    return ["source.kind=pdmx", f"source.root={json.dumps(str(release.root))}", *more]


@pytest.fixture(scope="module")
def pdmx_build(pdmx_release_session, tmp_path_factory):
    return build(tmp_path_factory.mktemp("pdmx-default") / "pdmx_fusa", *pdmx_overrides(pdmx_release_session))


def test_builds_exactly_the_selected_scores(pdmx_build, pdmx_release_session):
    release = pdmx_release_session
    selected = [ref.score_id for ref in list_scores(SourceConfig(kind="pdmx", root=str(release.root)))]
    assert selected == sorted(release.cids[role] for role in SOLO)
    assert pdmx_build.report.failures == []
    assert sorted({row["score_id"] for row in pdmx_build.all_rows()}) == selected
    assert (pdmx_build.out / "failures.jsonl").read_text() == ""


def test_metadata_carried_into_rows(pdmx_build, pdmx_release_session):
    cids = pdmx_release_session.cids
    expected = {
        cids["solo1"]: ("Title solo1", "Composer solo1", "publicdomain", 4.5),
        cids["solo2"]: ("Song solo2", "artist_solo2", "publicdomain", 2.0),
        cids["solo3"]: ("Song solo3", "Composer solo3", "cc-zero", 0.0),
        cids["solo4"]: ("1812", "Composer solo4", "publicdomain", None),
    }
    for row in pdmx_build.all_rows():
        assert row["source"] == "pdmx"
        assert row["pdmx_id"] == row["score_id"]
        got = (row["title"], row["composer"], row["license"], row["rating"])
        assert got == expected[row["score_id"]], row["score_id"]


def test_card_licences(pdmx_build):
    card = (pdmx_build.out / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^\| publicdomain \| 3 \|$", card, re.M)
    assert re.search(r"^\| cc-zero \| 1 \|$", card, re.M)
    assert "PDMX" in card and str(pdmx_build.cfg.source.root) in card


def separating_salt(*keys: str) -> str:
    """A split salt under which the given keys do not all land in one split (with validation and
    test at 0.3 each): a build that split by them would separate the duplicates."""
    for n in range(1000):
        cfg = SplitConfig(validation=0.3, test=0.3, salt=f"salt-{n}")
        if all(len({split(k, cfg) for k in pair}) > 1 for pair in keys):
            return cfg.salt
    raise AssertionError("no separating salt")


def test_duplicates_stay_in_one_split(pdmx_release_session, tmp_path_factory):
    release = pdmx_release_session
    solo1, duplicate = release.cids["solo1"], release.cids["duplicate"]
    rows = release.rows
    # keys a wrong implementation might split by: the score id, or the PDMX title and composer
    salt = separating_salt(
        (solo1, duplicate),
        (f"{rows['solo1']['composer_name']} | {rows['solo1']['title']}", f"{rows['duplicate']['composer_name']} | {rows['duplicate']['title']}"),
    )
    built = build(
        tmp_path_factory.mktemp("pdmx-dup") / "pdmx_fusa",
        *pdmx_overrides(release, 'source.subsets=["no_license_conflict"]', "splits.validation=0.3", "splits.test=0.3", f"splits.salt={salt}"),
    )
    splits: dict[str, set[str]] = {}
    for row in built.all_rows():
        splits.setdefault(row["score_id"], set()).add(row["split"])
    assert duplicate in splits and solo1 in splits, "the duplicate row should be built when dedup is off"
    assert len(splits[solo1]) == 1 and splits[duplicate] == splits[solo1]
    # it is the PDMX group that decides
    group = rows["solo1"]["best_unique_arrangement"]
    assert rows["duplicate"]["best_unique_arrangement"] == group
    assert splits[solo1] == {split(group, built.cfg.splits)}
