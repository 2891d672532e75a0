"""`pdmx-fusa show`: the example it finds, the still overlay, and the HTML viewer in a real
headless Chromium (Debian's ``chromium`` driven by Playwright), opened from the file alone."""

from __future__ import annotations

import importlib.util
import io
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pdmx_fusa.cli import main
from pdmx_fusa.dataset.schema import COLUMNS
from pdmx_fusa.dataset.show import ID_COLUMN, MEASURE_COLOUR, NOTE_COLOUR, find_example

CHROMIUM = shutil.which("chromium")
needs_browser = pytest.mark.skipif(
    CHROMIUM is None or importlib.util.find_spec("playwright") is None,
    reason="needs Debian's chromium and Playwright for Python (`make test` installs both)",
)
EPSILON = 0.001  # seconds, as in show.html


def unique_measures(row: dict) -> list[int]:
    """Indices of the measures played once on the page (their box belongs to them alone)."""
    ids = [m["engraved_id"] for m in row["measures"]]
    return [i for i, m in enumerate(ids) if ids.count(m) == 1]


def test_show_writes_the_page_and_the_still(default_build, tmp_path, capsys):
    html, png = tmp_path / "v.html", tmp_path / "v.png"
    split = next(iter(default_build.rows))
    assert main(["show", str(default_build.out), "2", "--split", split, "--out", str(html), "--png", str(png)]) == 0
    row = default_build.rows[split][2]
    assert f"{split}[2] {row['score_id']}" in capsys.readouterr().out
    text = html.read_text(encoding="utf-8")
    assert "data:audio/flac;base64," in text and "data:image/png;base64," in text
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
    still = Image.open(png)
    assert still.mode == "RGB" and still.size == Image.open(io.BytesIO(row["image"]["bytes"])).size
    x0, y0, x1, y1 = row["measures"][0]["box"]
    assert still.getpixel((int(x0), int((y0 + y1) / 2))) == MEASURE_COLOUR  # its left edge, drawn
    colours = dict((colour, n) for n, colour in still.getcolors(1 << 16))
    assert colours[NOTE_COLOUR] > 10 * sum(n["box"] is not None for n in row["notes"])  # every notehead's outline


def test_default_split_and_errors(default_build, tmp_path, capsys):
    first, *_, last = default_build.rows  # the splits present, in SPLITS order
    row, split, index = find_example(default_build.out, "0")
    assert (split, index) == (first, 0) and row == default_build.rows[first][0]
    n = len(default_build.rows[last])
    assert main(["show", str(default_build.out), str(n), "--split", last, "--out", str(tmp_path / "x.html")]) == 2
    assert f"give an index 0-{n - 1} of split '{last}'" in capsys.readouterr().err
    assert main(["show", str(tmp_path), "0"]) == 2
    assert "no Parquet shards under data/" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def test_example_id_is_found_in_any_split(default_build, tmp_path):
    """A dataset with an example_id column: an id is looked up in every split (made here by
    adding the column to copies of the real shards when the build does not write it)."""
    assert ID_COLUMN in COLUMNS
    (tmp_path / "data").mkdir()
    for split, rows in default_build.rows.items():
        for shard in sorted((default_build.out / "data").glob(f"{split}-*.parquet")):
            table = pq.read_table(shard)
            if ID_COLUMN not in table.column_names:
                ids = [f"{r['score_id']}#{split}{i}" for i, r in enumerate(table.to_pylist())]
                table = table.append_column(ID_COLUMN, pa.array(ids))
            pq.write_table(table, tmp_path / "data" / shard.name)
    first, *_, last = default_build.rows
    wanted = pq.read_table(sorted((tmp_path / "data").glob(f"{last}-*.parquet"))[-1]).to_pylist()[-1]
    row, split, index = find_example(tmp_path, wanted[ID_COLUMN])
    assert (split, index) == (last, len(default_build.rows[last]) - 1)
    assert row[ID_COLUMN] == wanted[ID_COLUMN] and row["score_id"] == wanted["score_id"]
    assert find_example(tmp_path, "1")[1:] == (first, 1)  # not an id: an index


@pytest.fixture(scope="module")
def viewer(default_build, tmp_path_factory):
    """The viewer of an example with at least four measures played once, open in Chromium."""
    from playwright.sync_api import sync_playwright

    split, index, row = next(
        (s, i, r) for s, rows in default_build.rows.items() for i, r in enumerate(rows) if len(unique_measures(r)) >= 4
    )
    html = tmp_path_factory.mktemp("show") / "example.html"
    assert main(["show", str(default_build.out), str(index), "--split", split, "--out", str(html)]) == 0
    requests, errors = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"])
        context = browser.new_context(offline=True, viewport={"width": 1300, "height": 2100})
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(html.as_uri())
        page.wait_for_function("document.getElementById('audio').readyState >= 1", timeout=20_000)
        yield page, row, requests, errors
        browser.close()


def seek(page, t: float) -> None:
    page.evaluate("""t => new Promise(done => {
        const audio = document.getElementById('audio');
        audio.addEventListener('seeked', () => done(), {once: true});
        audio.currentTime = t;
    })""", t)


def state(page) -> dict:
    return page.evaluate("""() => ({
        t: document.getElementById('audio').currentTime,
        measure: document.body.dataset.measure,
        current: [...document.querySelectorAll('rect.measure.current')].map(r => r.dataset.measures),
        sounding: [...document.querySelectorAll('rect.note.sounding')].map(r => Number(r.dataset.note)),
    })""")


def sounding(row: dict, t: float) -> list[int]:
    return [i for i, n in enumerate(row["notes"]) if n["box"] is not None and n["onset"] <= t + EPSILON < n["offset"]]


@needs_browser
def test_viewer_loads_from_the_file_alone(viewer):
    page, row, requests, errors = viewer
    assert not errors
    assert {url.split(":")[0] for url in requests} <= {"file", "data"}, requests
    assert page.evaluate("document.getElementById('audio').duration") == pytest.approx(row["duration"], abs=0.05)
    assert page.locator("rect.measure").count() == len({m["engraved_id"] for m in row["measures"]})
    assert page.locator("rect.note").count() == sum(n["box"] is not None for n in row["notes"])
    assert (row["title"] or row["score_id"]) in page.locator("h1").inner_text()


@needs_browser
def test_seeking_highlights_that_measure_and_its_notes(viewer):
    page, row, _, _ = viewer
    for i in unique_measures(row)[1:4]:
        m = row["measures"][i]
        seek(page, m["onset"] + 0.05)
        now = state(page)
        assert now["measure"] == str(i) and now["current"] == [str(i)], (i, now)
        assert sorted(now["sounding"]) == sounding(row, now["t"]) != []


@needs_browser
def test_click_on_a_measure_seeks_to_its_onset(viewer):
    page, row, _, _ = viewer
    first, last = unique_measures(row)[0], unique_measures(row)[-1]
    for i in (last, first):
        page.locator(f'rect.measure[data-measures="{i}"]').click()
        now = state(page)
        assert now["t"] == pytest.approx(row["measures"][i]["onset"], abs=1e-3)
        assert now["measure"] == str(i) and now["current"] == [str(i)]


@needs_browser
def test_highlight_follows_the_playing_audio(viewer):
    """Played across a barline, the highlight moves from one measure to the next with the audio."""
    page, row, _, _ = viewer
    i = unique_measures(row)[1]
    m = row["measures"][i]
    seek(page, m["offset"] - 0.3)
    page.evaluate("document.getElementById('audio').play()")
    seen = []
    for _ in range(40):
        page.wait_for_timeout(25)
        now = state(page)
        seen.append((now["t"], now["measure"]))
        if now["t"] > m["offset"] + 0.3:
            break
    page.evaluate("document.getElementById('audio').pause()")
    assert seen[-1][0] > m["offset"] + 0.2, "the audio did not play"
    for t, measure in seen:  # a frame (up to 40 ms here) may pass before the highlight catches up
        if abs(t - m["offset"]) > 0.04:
            assert measure == str(i if t < m["offset"] else i + 1), (t, measure, seen)
    assert {measure for _, measure in seen} == {str(i), str(i + 1)}
