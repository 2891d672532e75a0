"""The training data (pdmx_fusa.model.data) on the built embedded default: shapes, the snippet's
geometry, the excerpt's timing, loaders with workers, and a plain DataLoader over load_dataset."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

torch = pytest.importorskip("torch")
from pdmx_fusa.model.data import (  # noqa: E402
    PAGE_FRAMES, DataError, PagePairs, RowBatches, SnippetPairs, collate_rows, excerpt, snippet, timbre, visit_input,
)
from pdmx_fusa.model.spectrogram import spectrogram  # noqa: E402


@pytest.fixture(scope="module")
def data(default_build):
    """The session's build of the embedded default."""
    return default_build.out


@pytest.fixture(scope="module")
def pairs(data) -> SnippetPairs:
    return SnippetPairs([data], "test")


def test_snippet_pairs_shapes_and_labels(pairs):
    assert len(pairs) > 100 and len(pairs.rows) >= 2
    item = pairs[len(pairs) // 2]
    assert item["sheet"].shape == (1, 80, 100) and item["audio"].shape == (1, 92, 42)
    assert item["sheet"].dtype == item["audio"].dtype == torch.float32
    assert 0 <= item["sheet"].min() and item["sheet"].max() <= 1 and item["sheet"].mean() > 0.02  # ink is drawn
    assert item["audio"].max() > 0.1  # sound at the onset
    assert {"row", "piece", "page", "meter", "key", "polyphony"} <= set(item)


def test_snippet_is_centred_on_the_notehead_and_its_system(pairs):
    """Paint each candidate's notehead box alone on a blank page of the real page's size: in the
    snippet its ink lies at the centre column, and at the row its offset from the system's centre
    gives (one snippet pixel = 2 MSMD px = 2 * width / 835 page px)."""
    row = 0
    page, _ = pairs.decoded(row)
    notes = [n for n in pairs_notes(pairs, row) if n["box"] is not None]
    step = max(1, len(pairs.candidates[row]) // 12)
    for candidate, (onset, x, y) in enumerate(pairs.candidates[row][::step]):
        box = next(n["box"] for n in notes if abs(n["onset"] - onset) < 1e-6)
        blank = Image.new("L", page.size, 255)
        ImageDraw.Draw(blank).rectangle(box, fill=0)
        ink = snippet(blank, x, y)[0].numpy()
        rows, cols = np.nonzero(ink > 0.5)
        per_pixel = 2 * page.width / 835
        assert abs(cols.mean() - 49.5) < 1.0
        assert abs(rows.mean() - (39.5 + ((box[1] + box[3]) / 2 - y) / per_pixel)) < 1.0
        real = snippet(page, x, y)[0].numpy()
        assert real[int(rows.mean()) - 2: int(rows.mean()) + 3, 47:53].max() > 0.5  # the real page has ink there
        item = pairs[int(pairs.starts[row]) + candidate * step]["sheet"][0].numpy()  # cut from the page scaled once
        assert np.abs(item - real).mean() < 0.05 and np.corrcoef(item.ravel(), real.ravel())[0, 1] > 0.9


def pairs_notes(pairs, row: int) -> list[dict]:
    import pyarrow.parquet as pq

    where = pairs.rows[row]
    return pq.ParquetFile(where.shard).read_row_group(where.group, columns=["notes"]).column("notes")[where.offset].as_py()


def test_excerpt_is_centred_on_the_onset(pairs):
    _, signal = pairs.decoded(1)
    full = spectrogram(signal)
    assert np.array_equal(pairs.prepared(1)[2], full)
    for onset, _, _ in pairs.candidates[1][::25]:
        frame = int(round(onset * 20))
        cut = excerpt(full, onset)
        assert cut.shape == (92, 42)
        assert np.allclose(cut[:, 21], full[:, frame], atol=1e-6)
        inside = slice(max(0, 21 - frame), min(42, 21 + full.shape[1] - frame))  # the frames within the audio
        assert np.allclose(cut[:, inside], full[:, frame - 21 + inside.start: frame - 21 + inside.stop], atol=1e-6)
    assert np.all(excerpt(full, 0.0)[:, :19] == 0)  # before the audio: silence
    assert np.all(excerpt(full, full.shape[1] / 20)[:, 21:] == 0)  # after it: silence


def test_augmentation_is_seeded_per_item_not_by_order(data):
    first = SnippetPairs([data], "validation", train=True, seed=3)
    second = SnippetPairs([data], "validation", train=True, seed=3)
    a = [first[i]["sheet"] for i in (5, 1, 9)]
    b = [second[i]["sheet"] for i in (9, 1, 5)][::-1]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    plain = SnippetPairs([data], "validation")
    assert not torch.equal(plain[5]["sheet"], a[0])
    first.set_epoch(1)
    assert not torch.equal(first[5]["sheet"], a[0])


def test_timbre_equalises_smoothly_within_its_bounds():
    """Loud bands move by the equaliser's gain (dB / 20 under log10), at most level + tilt + bump =
    2.5 x 6 dB, smoothly over the bands, with levels and tilts that vary; silence stays silence."""
    loud = np.full((92, 4), 4.0, np.float32)  # magnitude 10^4 - 1: log10(1 + g x) - 4 is log10(g) to 1e-4
    shifts = [20 * (timbre(loud, np.random.default_rng(s), 6.0) - loud)[:, 0] for s in range(50)]
    assert all(np.abs(d).max() <= 15.01 for d in shifts)
    assert all(np.abs(np.diff(d)).max() < 1.0 for d in shifts)  # under 1 dB between neighbouring bands
    assert np.std([d.mean() for d in shifts]) > 2 and np.std([d[-1] - d[0] for d in shifts]) > 3
    assert np.all(timbre(np.zeros((92, 4), np.float32), np.random.default_rng(0), 6.0) == 0)
    assert timbre(loud, np.random.default_rng(0), 0.0) is loud


def test_timbre_colours_the_training_audio_only(data):
    """The equaliser draws after the other augmentation: the sheet and the excerpt's place stay as
    without it; pages' visits are coloured too; evaluation items never."""
    for kind in (SnippetPairs, PagePairs):
        plain, coloured = (kind([data], "validation", train=True, seed=3, timbre_db=db) for db in (0, 6))
        a, b = plain[2], coloured[2]
        assert torch.equal(a["sheet"], b["sheet"]) and not torch.allclose(a["audio"], b["audio"], atol=1e-3)
        assert torch.equal(a["audio"] == 0, b["audio"] == 0)
    evaluation = SnippetPairs([data], "validation")
    assert torch.equal(evaluation[2]["audio"], SnippetPairs([data], "validation", timbre_db=0)[2]["audio"])


def test_plain_dataloader_with_two_workers(pairs):
    def batches(workers):
        sampler = RowBatches(pairs, 20, 3, rows_per_batch=4, seed=1)
        return list(torch.utils.data.DataLoader(pairs, batch_sampler=sampler, num_workers=workers))

    parallel, serial = batches(2), batches(0)
    assert len(parallel) == 3 and parallel[0]["sheet"].shape == (20, 1, 80, 100) and parallel[0]["audio"].shape == (20, 1, 92, 42)
    assert all(torch.equal(p["sheet"], s["sheet"]) and p["row"].tolist() == s["row"].tolist() for p, s in zip(parallel, serial))
    assert len(set(parallel[0]["row"].tolist())) >= 4  # drawn from several pages


def test_persistent_workers_augment_with_the_samplers_epoch(data):
    """The training loader keeps its workers across epochs: a batch names its items' epoch, so a
    worker's copy of the dataset augments epoch 1 as a fresh dataset set to epoch 1 does."""
    from pdmx_fusa.model.train import TrainConfig, loader

    dataset = SnippetPairs([data], "validation", train=True, seed=2, cache_rows=None)
    batches = loader(dataset, TrainConfig(data=[data], batch_size=20, workers=1), 1)
    first = next(iter(batches))
    batches.batch_sampler.epoch = 1
    second = next(iter(batches))
    serial = SnippetPairs([data], "validation", train=True, seed=2)
    serial.set_epoch(1)
    indices = [index for index, _ in next(iter(batches.batch_sampler))]
    assert torch.equal(second["sheet"], torch.stack([serial[i]["sheet"] for i in indices]))
    assert not torch.equal(first["sheet"], second["sheet"])


def test_page_pairs_crop_and_pad(data):
    pages = PagePairs([data], "test")
    item = pages[0]
    assert item["sheet"].shape == (1, 384, 272) and item["audio"].shape == (1, 92, PAGE_FRAMES)
    short = visit_input(spectrogram(np.ones(22050 * 5, np.float32) * 0.1))
    assert short.shape == (1, 92, PAGE_FRAMES) and short[0, :, 100:].abs().max() == 0 and short[0, :, :99].max() > 0
    signal = np.random.default_rng(0).standard_normal(22050 * 60).astype(np.float32)  # 60 s: the middle 40 s
    assert np.allclose(visit_input(spectrogram(signal))[0].numpy(), spectrogram(signal)[:, 200:1000], atol=1e-6)


def test_missing_split_names_the_folder(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path)):
        SnippetPairs([tmp_path], "train")


def test_collate_rows_lets_a_plain_dataloader_read_load_dataset(data):
    datasets = pytest.importorskip("datasets")
    rows = datasets.load_dataset(str(data), split="test").cast_column("audio", datasets.Audio(decode=False))
    with pytest.raises((TypeError, RuntimeError)):  # what users meet without it
        next(iter(torch.utils.data.DataLoader(rows, batch_size=2)))
    batch = next(iter(torch.utils.data.DataLoader(rows, batch_size=2, collate_fn=collate_rows)))
    assert batch["image"].dtype == torch.uint8 and batch["image"].shape == (2, 1754, 1240)
    assert batch["audio"].ndim == 2 and batch["audio"].dtype == torch.float32
    lengths = batch["audio_length"].tolist()
    assert batch["audio"].shape[1] == max(lengths) and all(abs(n / 22050 - d) < 1e-3 for n, d in zip(lengths, batch["duration"].tolist()))
    assert isinstance(batch["notes"], list) and len(batch["notes"]) == 2 and batch["page"].dtype == torch.int64
