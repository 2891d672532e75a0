"""The card a hub accepts (parsed with huggingface_hub), the metadata columns (null for unknown,
titles and composers from the scores' own headers, one spelling per composer, stable piece and
example ids), and the distribution plots of `pdmx-fusa stats`, byte-identical from build to build."""

from __future__ import annotations

import collections
import hashlib
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import verovio
from huggingface_hub import DatasetCard

from conftest import CORPORA, build, needs_corpora
from pdmx_fusa.build.card import TASK_CATEGORIES, size_category
from pdmx_fusa.cli import main
from pdmx_fusa.dataset.schema import COLUMNS
from pdmx_fusa.dataset.stats import BEGIN, END, FOLDER, PLOTS
from pdmx_fusa.records import ScoreRef
from pdmx_fusa.stages.composers import canonical_names, clean
from pdmx_fusa.stages.header import musicxml_header, title_and_composer
from pdmx_fusa.stages.parse import _head

METADATA = ("pdmx_id", "piece_id", "example_id", "title", "composer", "license", "meter", "soundfont", "source", "score_id")


def shard_counts(out: Path) -> dict[str, int]:
    counts: dict[str, int] = collections.Counter()
    for shard in (out / "data").glob("*.parquet"):
        counts[shard.name.split("-")[0]] += pq.ParquetFile(shard).metadata.num_rows
    return dict(counts)


def checksums(out: Path) -> dict[str, str]:
    lines = (out / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return {name: digest for digest, _, name in (line.partition("  ") for line in lines)}


def files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != ".pdmx-fusa"}


# --- the card -----------------------------------------------------------------------------------------


def test_card_parses_with_huggingface_hub(default_build):
    card = DatasetCard.load(default_build.out / "README.md")
    data = card.data
    assert data.license == "other"
    assert re.fullmatch(r"[a-z0-9.-]+", data.license_name)  # the Hub's form for a licence of one's own
    assert (default_build.out / data.license_link).is_file()
    assert data.task_categories == TASK_CATEGORIES
    examples = sum(len(rows) for rows in default_build.rows.values())
    assert data.size_categories == [size_category(examples)] == ["n<1K"]
    info = data.dataset_info
    assert [f["name"] for f in info["features"]] == list(COLUMNS)
    assert {s["name"]: s["num_examples"] for s in info["splits"]} == shard_counts(default_build.out)
    assert [f["split"] for f in data.configs[0]["data_files"]] == list(default_build.rows)
    for heading in ("## Limitations", "## Citation", "## Distributions"):
        assert heading in card.text
    assert "@inproceedings{long2025pdmx" in card.text and "@misc{pdmx_fusa" in card.text


def test_card_counts_notes_and_notehead_pairs(default_build):
    """The counts table gives, per split and in total, the notes the examples play and the notes
    whose notehead is drawn on the page (notehead↔onset pairs), as recounted from the shards."""
    text = (default_build.out / "README.md").read_text(encoding="utf-8")
    header = "| split | scores | pages | examples | measures | notes | notehead↔onset pairs | hours of audio | bytes |"
    assert header in text
    table = {cells[0]: cells for cells in ([c.strip() for c in line.strip("|").split("|")]
                                           for line in text.split(header, 1)[1].splitlines()[2:] if line.startswith("|"))}
    recount = collections.Counter()
    for split, rows in default_build.rows.items():
        notes = [note for row in rows for note in row["notes"]]
        assert int(table[split][5]) == len(notes)
        assert int(table[split][6]) == sum(note["box"] is not None for note in notes) > 0
        recount["notes"] += len(notes)
    assert int(table["total"][5]) == recount["notes"]


def test_card_says_where_the_timing_comes_from(default_build):
    """The card names the source of its times as the build makes them: the MusicXML's own measure
    lengths, tempo marks and repeats (the timeline stage), Verovio's timing for MEI and Humdrum."""
    text = (default_build.out / "README.md").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith("- Timing:"))
    assert "MusicXML" in line and "Verovio" in line and "timemap positions" not in line


def test_card_says_how_far_each_test_piano_is(default_build):
    """Every test soundfont of the build has its distance to the nearest training piano in the card
    (measured by `pdmx-fusa soundfonts --compare`), and that distance is a real one (> 3 dB, the
    same-instrument threshold)."""
    text = (default_build.out / "README.md").read_text(encoding="utf-8")
    tests = sorted({row["soundfont"] for row in default_build.rows.get("test", [])})
    assert tests
    for name in tests:
        found = re.search(rf"^- Test piano {re.escape(name)}: ([0-9.]+) dB from the nearest training piano \(([^)]+)\)", text, re.M)
        assert found, name
        assert float(found.group(1)) > 3.0 and found.group(2) != name


def test_size_categories():
    assert [size_category(n) for n in (0, 999, 1000, 9_999, 10_000, 254_000, 2_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M",
    ]


# --- metadata columns ---------------------------------------------------------------------------------


def test_metadata_is_null_where_unknown_never_empty(default_build):
    rows = default_build.all_rows()
    for column in METADATA:
        assert not [row["score_id"] for row in rows if row[column] == ""], column
    assert all(row["pdmx_id"] is None and row["rating"] is None for row in rows)  # not a PDMX build


def test_composer_and_title_filled_on_the_embedded_default(default_build):
    rows = default_build.all_rows()
    assert all(row["title"] and row["composer"] for row in rows)
    composers = {row["score_id"]: row["composer"] for row in rows}
    assert composers["music21/bach/bwv846.mxl"] == "Johann Sebastian Bach"  # the header's "(1685 - 1750)" gone
    assert len({row["composer"] for row in rows}) == 8


def test_piece_and_example_ids(default_build):
    rows = default_build.all_rows()
    ids = [row["example_id"] for row in rows]
    assert len(set(ids)) == len(ids)
    for row in rows:
        tempo = f"{row['tempo_ratio']:g}"
        kind = ":expressive" if row["expressive"] else ""
        assert row["example_id"] == f"{row['score_id']}#p{row['page']}v{row['visit']}:{row['soundfont']}@{tempo}{kind}"
        assert re.fullmatch(r"[0-9a-f]{16}", row["piece_id"])
    pieces = collections.defaultdict(set)
    for row in rows:
        pieces[row["score_id"]].add((row["piece_id"], row["split"]))
    assert all(len(v) == 1 for v in pieces.values())  # one piece and one split per score
    split_of = collections.defaultdict(set)
    for (piece, split), in pieces.values():
        split_of[piece].add(split)
    assert all(len(v) == 1 for v in split_of.values())  # a piece lies in one split
    assert len(split_of) == 13


# --- score headers and composer names -------------------------------------------------------------------


@needs_corpora
def test_titles_and_composers_from_musicxml_headers():
    scores = sorted((CORPORA / "asap-dev").rglob("score.mxl"))
    headers = {path.relative_to(CORPORA / "asap-dev").as_posix(): musicxml_header(path) for path in scores}
    titled = sum("title" in h for h in headers.values())
    composed = sum("composer" in h for h in headers.values())
    print(f"asap-dev: {len(scores)} scores, {titled} with a title, {composed} with a composer in the header")
    assert titled >= 0.9 * len(scores) and composed >= 0.9 * len(scores)
    # Verovio's MEI has neither for this one: the credits (centred title lines, the composer on the right)
    ballade = headers["Chopin/Ballades/1/score.mxl"]
    assert ballade["title"] == "Ballade No. 1 in G Minor, Opus 23"  # two centred credits, not the footer
    assert ballade["composer"].endswith("Chopin (1810 - 1849)")  # its given names are mis-encoded in the file
    ref = ScoreRef("b.mxl", str(CORPORA / "asap-dev/Chopin/Ballades/1/score.mxl"), "folder", "")
    title, composer = title_and_composer(ref, {})
    assert title == "Ballade No. 1 in G Minor, Opus 23" and composer.endswith(" Chopin")  # the dates gone
    # the source's own metadata comes first
    stated = ScoreRef("b.mxl", ref.path, "pdmx", "", title="Ballade 1", composer="Chopin, Frédéric")
    assert title_and_composer(stated, {}) == ("Ballade 1", "Frédéric Chopin")


@needs_corpora
def test_humdrum_header_through_verovio():
    krn = sorted((CORPORA / "humdrum-piano" / "beethoven").glob("*.krn"))[0]
    toolkit = verovio.toolkit()
    assert toolkit.loadFile(str(krn))
    head = _head(ET.fromstring(toolkit.getMEI()))
    title, composer = title_and_composer(ScoreRef(krn.name, str(krn), "folder", ""), head)
    assert head["composer"] == "Beethoven, Ludwig van" and composer == "Ludwig van Beethoven"
    assert title.startswith("Piano Sonata no. ")


def test_composer_names_cleaned():
    assert clean("Johann Sebastian Bach (1685 - 1750)") == "Johann Sebastian Bach"
    assert clean("Beethoven, Ludwig van") == "Ludwig van Beethoven"
    assert clean("Beethoven, Ludwig van, 1770-1827") == "Ludwig van Beethoven"
    assert clean("  Wolfgang   Amadeus Mozart\n[1756–1791] ") == "Wolfgang Amadeus Mozart"
    assert clean("Lennon & McCartney") == "Lennon & McCartney"  # two names: not inverted
    assert clean("") == ""


def test_composer_names_merged_into_one_form():
    counts = {
        "Wolfgang Amadeus Mozart": 3, "W. A. Mozart": 1, "W.A. Mozart": 1, "Mozart": 2,
        "Johann Sebastian Bach": 2, "J. S. Bach": 1, "Carl Philipp Emanuel Bach": 1, "Bach": 1,
        "Frederic Chopin": 2, "Frédéric François Chopin": 1, "Frédéric Chopin": 1, "Composer solo1": 1, "Composer solo3": 1,
    }
    names = canonical_names(counts)
    assert {names[n] for n in ("W. A. Mozart", "W.A. Mozart", "Mozart")} == {"Wolfgang Amadeus Mozart"}
    assert names["J. S. Bach"] == "Johann Sebastian Bach"
    assert names["Bach"] == "Bach"  # fits two Bachs: left alone
    assert names["Carl Philipp Emanuel Bach"] == "Carl Philipp Emanuel Bach"
    assert {names[n] for n in ("Frederic Chopin", "Frédéric Chopin")} == {"Frédéric François Chopin"}
    assert names["Composer solo1"] != names["Composer solo3"]
    with_leopold = canonical_names({"Wolfgang Amadeus Mozart": 1, "Leopold Mozart": 1, "Mozart": 5})
    assert with_leopold["Mozart"] == "Mozart" and with_leopold["Leopold Mozart"] == "Leopold Mozart"


@needs_corpora
def test_corpus_composers_take_fewer_forms():
    """On real headers (asap-dev MusicXML), merging leaves fewer spellings than cleaning alone."""
    found = [musicxml_header(p).get("composer", "") for p in sorted((CORPORA / "asap-dev").rglob("score.mxl"))]
    cleaned = collections.Counter(clean(name) for name in found if name)
    merged = canonical_names(cleaned)
    print(f"asap-dev composers: {len(set(found))} spellings, {len(cleaned)} cleaned, {len(set(merged.values()))} merged")
    assert len(set(merged.values())) < len(cleaned) < len(set(found))
    assert merged["Chopin"] == "Chopin" or merged["Chopin"].endswith("Chopin")


# --- distribution plots -------------------------------------------------------------------------------


def test_stats_plots_are_in_the_card_and_the_checksums(default_build):
    out = default_build.out
    card = (out / "README.md").read_text(encoding="utf-8")
    sums = checksums(out)
    for name in PLOTS:
        rel = f"{FOLDER}/{name}.png"
        png = (out / rel).read_bytes()
        assert png.startswith(b"\x89PNG") and b"Software" not in png and len(png) > 5000
        assert f"]({rel})" in card
        assert sums[rel] == hashlib.sha256(png).hexdigest()
    assert sums["README.md"] == hashlib.sha256((out / "README.md").read_bytes()).hexdigest()
    assert subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=out).returncode == 0


def test_stats_command_redraws_the_same_bytes(default_build, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(default_build.out, copy)
    before = files(copy)
    assert main(["stats", str(copy)]) == 0
    assert files(copy) == before  # nothing changed: the plots and the card are deterministic
    # a card without the section and a plot lost: both come back, and SHA256SUMS matches again
    text = (copy / "README.md").read_text(encoding="utf-8")
    (copy / "README.md").write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), "", text, flags=re.S), encoding="utf-8")
    (copy / FOLDER / "keys.png").unlink()
    assert main(["stats", str(copy)]) == 0
    assert (copy / FOLDER / "keys.png").read_bytes() == before[f"{FOLDER}/keys.png"]
    assert "(stats/keys.png)" in (copy / "README.md").read_text(encoding="utf-8")
    assert subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=copy).returncode == 0
    assert main(["stats", str(tmp_path / "nothing")]) == 2
    assert "no data/*.parquet shards" in capsys.readouterr().err


def test_rebuild_is_byte_identical(default_build, tmp_path):
    """A second build of the same inputs (from the first one's cache) writes the same bytes:
    shards, card, plots, licence file, checksums."""
    cache = default_build.out.with_name(default_build.out.name + ".cache")
    again = build(tmp_path / "pdmx_fusa", f"output.cache={json.dumps(str(cache))}", "run.workers=1")
    assert files(again.out) == files(default_build.out)
