"""PyTorch datasets over a built dataset's Parquet shards: snippet pairs and page pairs.

The shards are read lazily: building a dataset reads the small columns (no image, audio or MIDI),
and an item decodes its row's page and audio from its Parquet row group. What an item is cut from
(the page at the network's scale and the whole visit's spectrogram, about 0.5 MB) is kept for up to
``cache_rows`` rows per process, so a training run that holds every row decodes each one once. A
dataset is picklable, so any number of ``DataLoader`` workers share it; an item index may be an
``(index, epoch)`` pair, so that persistent workers draw each epoch's augmentation.

Snippet pairs (Dorfer et al. 2018, MSMD geometry). One candidate per distinct note onset of a
row whose notehead is drawn on the page. MSMD's pages were 835 px wide; ours are ``W`` px wide
(the image's width), so one MSMD pixel is ``s = W / 835`` page pixels. The sheet snippet is the
window of 160 x 200 MSMD px (``160 s`` x ``200 s`` page px) centred horizontally on the notehead
and vertically on its system (MSMD cut its snippets from the systems laid end to end), scaled to
80 x 100, ink 1 and paper 0 (paper beyond the page). The page is first scaled once to the
snippet's scale (418 px wide: 2 MSMD px per pixel), and the window is cut from that. Training
augmentation: the window scaled by 0.95-1.05 and shifted by up to +-5 MSMD px each way; the onset
jittered by +-1 frame. The audio excerpt is 42 frames (2.1 s) of MSMD's spectrogram (92 bands)
with the onset's frame at index 21.

Timbre augmentation (ours, not MSMD's; ``timbre_db``, 0 turns it off): in training, the audio of
an item passes a random equaliser, so that a model learns the notes rather than the few training
pianos' colour. Its gain in dB over the bands is a level, a tilt from the lowest to the highest
band and one cosine bump (half to two cycles over the bands, any phase), each drawn up to
``timbre_db`` (the bump up to half of it), applied to the magnitudes under ``log10(1 + x)``.

Page pairs (the page model). The page image, scaled to 384 x 272 (height x width; an A4 page's
aspect), ink 1; the visit's spectrogram cropped or padded to 800 frames (40 s): a longer visit
gives a random 40 s in training and its middle 40 s in evaluation, a shorter one is padded with
silence (zeros) at its end.

Randomness is seeded per item (``seed``, ``epoch``, the row's key and the candidate), never by
the order items are drawn in: the same seed gives the same pairs in any worker.
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import soundfile
import torch
from PIL import Image

from ..dataset.schema import SPLITS
from .spectrogram import FPS, SAMPLE_RATE, spectrogram

MSMD_PAGE_WIDTH = 835  # px, the width of MSMD's rendered pages
SNIPPET_WINDOW = (160, 200)  # MSMD px, height x width
SNIPPET_SIZE = (80, 100)  # the network's input, height x width
EXCERPT_FRAMES = 42  # 2.1 s at 20 frames/s
SCALE_RANGE = (0.95, 1.05)
SHIFT_PX = 5  # MSMD px
ONSET_JITTER = 1  # frames
TIMBRE_DB = 10.0  # the timbre augmentation's largest level, tilt (and twice its bump), dB
PAGE_SIZE = (384, 272)  # height x width
PAGE_FRAMES = 800  # 40 s
KEYS = 15  # key_fifths -7 .. 7
METERS = ("2/2", "2/4", "3/4", "4/4", "3/8", "6/8", "9/8", "12/8", "other")
POLYPHONY = 8  # classes 1 .. 8 notes (more counts as 8)
# Shards written before the schema had `piece_id` / `example_id` lack them: then the score and a
# key composed of score, page, visit, piano and tempo stand in.
PIECE, EXAMPLE = "piece_id", "example_id"
_META = ["systems", "measures", "notes", "key_fifths", "meter", "polyphony", "score_id", "page", "visit",
         "soundfont", "tempo_ratio", PIECE, EXAMPLE]
CACHE_ROWS = 64  # default rows kept decoded per process
SNIPPET_PAGE_WIDTH = round(MSMD_PAGE_WIDTH * SNIPPET_SIZE[0] / SNIPPET_WINDOW[0])  # 418 px: the page at the snippet's scale


class DataError(ValueError):
    """A dataset folder that cannot be read as PDMX-FUSA shards (the message names the path)."""


@dataclass(frozen=True)
class Row:
    """Where one example lives and the labels an item carries."""

    shard: str
    group: int  # row group within the shard
    offset: int  # row within the group
    key: str  # stable id of the example (seeds its randomness)
    piece: str
    rendition: str  # the piece, soundfont and tempo ratio: one recording of the piece
    page: int
    meter: int  # index into METERS
    key_fifths: int  # index 0 .. 14
    polyphony: int  # index 0 .. 7

    @property
    def page_id(self) -> str:
        """The page the example shows: its visits and renditions share it."""
        return f"{self.piece}|{self.page}"


def shards(folders: list[str | Path], split: str) -> list[Path]:
    """The Parquet shards of ``split`` under each folder's ``data/`` (folders in the order given)."""
    if split not in SPLITS:
        raise DataError(f"split {split!r}: choose one of {', '.join(SPLITS)}")
    found = []
    for folder in folders:
        files = sorted((Path(folder) / "data").glob(f"{split}-*.parquet"))
        if not files:
            raise DataError(f"{folder}: no {split} shards under data/ (build a dataset with `pdmx-fusa build`)")
        found.extend(files)
    return found


def _labels(row: dict) -> tuple[int, int, int]:
    meter = METERS.index(row["meter"]) if row["meter"] in METERS else len(METERS) - 1
    return meter, int(np.clip(row["key_fifths"], -7, 7)) + 7, int(np.clip(row["polyphony"], 1, POLYPHONY)) - 1


def _candidates(row: dict) -> np.ndarray:
    """(onset s, notehead x centre, system y centre) per distinct onset with a drawn notehead."""
    systems, measures, seen, out = row["systems"], row["measures"], set(), []
    for note in row["notes"]:
        if note["box"] is None or round(note["onset"], 3) in seen:
            continue
        seen.add(round(note["onset"], 3))
        x0, y0, x1, y1 = note["box"]
        system = measures[note["measure"]]["system"]
        _, top, _, bottom = systems[system] if 0 <= system < len(systems) else (0, y0, 0, y1)
        out.append(((note["onset"]), (x0 + x1) / 2, (top + bottom) / 2))
    return np.asarray(out, dtype=np.float64).reshape(-1, 3)


def _item_rng(seed: int, epoch: int, key: str, index: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}|{epoch}|{key}|{index}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class _Shards(torch.utils.data.Dataset):
    """The rows of some shards: their labels at hand, their page and audio decoded on demand."""

    def __init__(self, folders: list[str | Path], split: str, *, train: bool = False, seed: int = 0,
                 cache_rows: int | None = CACHE_ROWS, timbre_db: float = TIMBRE_DB):
        self.split, self.train, self.seed, self.epoch, self.cache_rows = split, train, seed, 0, cache_rows
        self.timbre_db = timbre_db
        self.rows: list[Row] = []
        self.candidates: list[np.ndarray] = []
        for shard in shards(list(folders), split):
            parquet = pq.ParquetFile(shard)
            columns = [c for c in dict.fromkeys(_META) if c in parquet.schema_arrow.names]
            for group in range(parquet.num_row_groups):
                for offset, row in enumerate(parquet.read_row_group(group, columns=columns).to_pylist()):
                    piece = row.get(PIECE, row["score_id"])
                    key = row.get(EXAMPLE) or f"{row['score_id']}#p{row['page']}v{row['visit']}:{row['soundfont']}@{row['tempo_ratio']}"
                    meter, key_fifths, polyphony = _labels(row)
                    rendition = f"{piece}|{row['soundfont']}|{row['tempo_ratio']}"
                    self.rows.append(Row(str(shard), group, offset, key, piece, rendition, row["page"], meter, key_fifths, polyphony))
                    self.candidates.append(_candidates(row))
        self._cache: OrderedDict = OrderedDict()

    def __getstate__(self):
        return {**self.__dict__, "_cache": OrderedDict()}

    def set_epoch(self, epoch: int) -> None:
        """Draw the augmentation of ``epoch`` (call before each epoch's loader starts)."""
        self.epoch = epoch

    def decoded(self, row: int) -> tuple[Image.Image, np.ndarray]:
        """Row ``row``'s page (PIL, greyscale) and audio (float32 samples at 22.05 kHz)."""
        where = self.rows[row]
        table = pq.ParquetFile(where.shard).read_row_group(where.group, columns=["image", "audio"])
        image, audio = (table.column(name)[where.offset].as_py()["bytes"] for name in ("image", "audio"))
        signal, rate = soundfile.read(io.BytesIO(audio), dtype="float32")
        if rate != SAMPLE_RATE:
            raise DataError(f"{where.shard}: audio at {rate} Hz; the models need {SAMPLE_RATE} Hz (build with render.sample_rate={SAMPLE_RATE})")
        page = Image.open(io.BytesIO(image)).convert("L")
        page.load()
        return page, signal

    def prepared(self, row: int) -> tuple:
        """What row ``row``'s items are cut from (:meth:`_prepare` of its page and audio), kept for
        the last ``cache_rows`` rows used (all of them when ``cache_rows`` is None)."""
        if row in self._cache:
            self._cache.move_to_end(row)
            return self._cache[row]
        self._cache[row] = self._prepare(*self.decoded(row))
        if self.cache_rows is not None and len(self._cache) > self.cache_rows:
            self._cache.popitem(last=False)
        return self._cache[row]

    def _prepare(self, page: Image.Image, signal: np.ndarray) -> tuple:
        """The page as the items need it, and the whole visit's spectrogram (92, frames)."""
        raise NotImplementedError

    def _item(self, item) -> tuple[int, int]:
        """(index, epoch) of an item index that may carry its epoch."""
        return (int(item[0]), int(item[1])) if isinstance(item, tuple | list) else (int(item), self.epoch)

    def _labels(self, row: int) -> dict:
        r = self.rows[row]
        return {"row": row, "piece": r.piece, "page": r.page, "meter": r.meter, "key": r.key_fifths, "polyphony": r.polyphony}


def ink(image: Image.Image) -> torch.Tensor:
    """A greyscale image as float32 (1, height, width): ink 1, paper 0."""
    return torch.from_numpy(1.0 - np.asarray(image, dtype=np.float32) / 255.0)[None]


class SnippetPairs(_Shards):
    """Sheet snippet / audio excerpt pairs, one per distinct onset of a drawn notehead.

    Parameters
    ----------
    folders : built dataset folders (several are concatenated)
    split : ``train``, ``validation`` or ``test``
    train : augment (window scale and shift, onset jitter, timbre), seeded per item
    seed : the augmentation's seed
    cache_rows : rows kept prepared per process (None: all; about 0.5 MB each)
    timbre_db : the timbre augmentation's size in dB (:func:`timbre`; 0: none)

    An item is a dict: ``sheet`` float32 (1, 80, 100), ``audio`` float32 (1, 92, 42), ``row``
    (index into ``rows``), ``piece``, ``page``, ``meter``, ``key``, ``polyphony`` (class indices).
    """

    def __init__(self, folders, split, *, train=False, seed=0, cache_rows=CACHE_ROWS, timbre_db=TIMBRE_DB):
        super().__init__(folders, split, train=train, seed=seed, cache_rows=cache_rows, timbre_db=timbre_db)
        counts = np.array([len(c) for c in self.candidates], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(counts)])
        if self.starts[-1] == 0:
            raise DataError(f"{', '.join(map(str, folders))}: no {split} notes with a notehead on the page")

    def __len__(self) -> int:
        return int(self.starts[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(row, candidate within the row) of flat item ``index``."""
        row = int(np.searchsorted(self.starts, index, "right")) - 1
        return row, index - int(self.starts[row])

    def _prepare(self, page, signal):
        zoom = SNIPPET_PAGE_WIDTH / page.width
        small = page.resize((SNIPPET_PAGE_WIDTH, max(1, round(page.height * zoom))), Image.Resampling.BILINEAR)
        return small, zoom, spectrogram(signal, SAMPLE_RATE)

    def __getitem__(self, item) -> dict:
        index, epoch = self._item(item)
        row, candidate = self.locate(index)
        onset, x, y = self.candidates[row][candidate]
        page, zoom, frames = self.prepared(row)
        if not self.train:
            sheet, audio = snippet(page, x * zoom, y * zoom), excerpt(frames, onset)
        else:
            rng = _item_rng(self.seed, epoch, self.rows[row].key, candidate)
            scale, (dx, dy) = rng.uniform(*SCALE_RANGE), rng.uniform(-SHIFT_PX, SHIFT_PX, 2)
            jitter = int(rng.integers(-ONSET_JITTER, ONSET_JITTER + 1))
            sheet = snippet(page, x * zoom, y * zoom, scale, dx, dy)
            audio = timbre(excerpt(frames, onset, jitter), rng, self.timbre_db)
        return {"sheet": sheet, "audio": torch.from_numpy(audio)[None], **self._labels(row)}


def snippet(page: Image.Image, x: float, y: float, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> torch.Tensor:
    """The sheet snippet centred on page point (x, y) px, float32 (1, 80, 100), ink 1.

    The window is 160 x 200 MSMD px times ``scale``, its centre moved by (dx, dy) MSMD px; one MSMD
    px is ``page.width / 835`` page px; paper beyond the page.
    """
    s = page.width / MSMD_PAGE_WIDTH
    half_h, half_w = SNIPPET_WINDOW[0] * scale * s / 2, SNIPPET_WINDOW[1] * scale * s / 2
    cx, cy = x + dx * s, y + dy * s
    box = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
    margin = int(np.ceil(max(half_w, half_h))) + 1
    left, top = int(np.floor(box[0])) - 1, int(np.floor(box[1])) - 1
    right, bottom = int(np.ceil(box[2])) + 1, int(np.ceil(box[3])) + 1
    if left < 0 or top < 0 or right > page.width or bottom > page.height:  # paper around the page
        padded = Image.new("L", (page.width + 2 * margin, page.height + 2 * margin), 255)
        padded.paste(page, (margin, margin))
        page, box = padded, tuple(v + margin for v in box)
        left, top, right, bottom = left + margin, top + margin, right + margin, bottom + margin
    window = page.crop((left, top, right, bottom))
    inner = (box[0] - left, box[1] - top, box[2] - left, box[3] - top)
    return ink(window.resize(SNIPPET_SIZE[::-1], Image.Resampling.BILINEAR, box=inner))


def frames_window(frames: np.ndarray, start: int, count: int) -> np.ndarray:
    """Frames ``start .. start + count`` of a spectrogram (bands, n), zeros outside it (silence)."""
    out = np.zeros((frames.shape[0], count), dtype=np.float32)
    low, high = max(start, 0), min(start + count, frames.shape[1])
    if high > low:
        out[:, low - start: high - start] = frames[:, low:high]
    return out


def timbre(frames: np.ndarray, rng: np.random.Generator, db: float = TIMBRE_DB) -> np.ndarray:
    """``frames`` (92, n), MSMD's ``log10(1 + x)`` spectrogram, through a random equaliser.

    Parameters
    ----------
    frames : float32 array (bands, frames)
    rng : the item's generator (draws 5 numbers)
    db : largest level and tilt in dB; the cosine bump up to ``db / 2`` (0: ``frames`` unchanged)

    Returns
    -------
    float32 array (bands, frames): ``log10(1 + x * 10 ** (gain / 20))`` of the magnitudes ``x``,
    ``gain`` in dB per band: level + tilt * u + bump * cos(pi * cycles * (u + 1) + phase),
    ``u`` from -1 (lowest band) to 1 (highest)
    """
    if not db:
        return frames
    level, tilt, bump = rng.uniform(-db, db), rng.uniform(-db, db), rng.uniform(-db / 2, db / 2)
    cycles, phase = rng.uniform(0.5, 2.0), rng.uniform(0, 2 * np.pi)
    u = np.linspace(-1.0, 1.0, frames.shape[0])
    gain = 10.0 ** ((level + tilt * u + bump * np.cos(np.pi * cycles * (u + 1) + phase)) / 20)
    return np.log10(1 + np.expm1(frames * np.log(10)) * gain[:, None]).astype(np.float32)


def excerpt(frames: np.ndarray, onset: float, jitter: int = 0) -> np.ndarray:
    """The 42-frame excerpt of a visit's spectrogram ``frames`` (92, n) whose frame 21 holds
    ``onset`` (s) + ``jitter`` frames, (92, 42); frames beyond the visit are silence."""
    centre = int(round(onset * FPS)) + jitter
    return frames_window(frames, centre - EXCERPT_FRAMES // 2, EXCERPT_FRAMES)


class PagePairs(_Shards):
    """Page image / page-visit audio pairs, one per example (row).

    Parameters as for :class:`SnippetPairs`; ``train`` draws a random 40 s of a longer visit
    (else its middle 40 s) and the timbre augmentation. An item: ``sheet`` float32
    (1, 384, 272), ``audio`` float32 (1, 92, 800), and the labels of :class:`SnippetPairs`.
    """

    def __init__(self, folders, split, *, train=False, seed=0, cache_rows=CACHE_ROWS, timbre_db=TIMBRE_DB):
        super().__init__(folders, split, train=train, seed=seed, cache_rows=cache_rows, timbre_db=timbre_db)
        self.starts = np.arange(len(self.rows) + 1)  # one candidate per row, for RowBatches

    def __len__(self) -> int:
        return len(self.rows)

    def _prepare(self, page, signal):
        return page_input(page), spectrogram(signal, SAMPLE_RATE)

    def __getitem__(self, item) -> dict:
        index, epoch = self._item(item)
        sheet, frames = self.prepared(index)
        if not self.train:
            return {"sheet": sheet, "audio": visit_input(frames), **self._labels(index)}
        rng = _item_rng(self.seed, epoch, self.rows[index].key, 0)
        start = int(rng.integers(0, frames.shape[1] - PAGE_FRAMES + 1)) if frames.shape[1] > PAGE_FRAMES else None
        audio = timbre(visit_input(frames, start)[0].numpy(), rng, self.timbre_db)
        return {"sheet": sheet, "audio": torch.from_numpy(audio)[None], **self._labels(index)}


def visit_input(frames: np.ndarray, start: int | None = None) -> torch.Tensor:
    """A visit's spectrogram ``frames`` (92, n) as the page model's input, float32 (1, 92, 800):
    800 frames from ``start`` (default: the middle 800), a shorter visit padded with silence."""
    start = max(frames.shape[1] - PAGE_FRAMES, 0) // 2 if start is None else start
    return torch.from_numpy(frames_window(frames, start, PAGE_FRAMES))[None]


def page_input(page: Image.Image) -> torch.Tensor:
    """A page scaled to the page model's input, float32 (1, 384, 272), ink 1."""
    return ink(page.resize(PAGE_SIZE[::-1], Image.Resampling.BILINEAR))


class RowBatches(torch.utils.data.Sampler):
    """Batches of pairs drawn from few rows each, so that a worker decodes a page for many pairs.

    Rows come in a random order, ``rows_per_batch`` at a time (more when they hold too few
    candidates); such a group of rows serves ``reuse`` consecutive batches, each taking up to
    ``batch_size // rows_per_batch`` candidates of every row of the group, never one twice in a
    batch. The draw depends on ``seed`` and ``epoch`` only.

    Parameters
    ----------
    dataset : a :class:`SnippetPairs` (or :class:`PagePairs`: one candidate per row)
    batch_size : pairs per batch (at most the dataset's length)
    batches : batches per epoch
    rows_per_batch : rows a batch draws from (at least)
    reuse : consecutive batches a group of rows serves
    start : batches of the epoch to skip (resuming)
    """

    def __init__(self, dataset: SnippetPairs, batch_size: int, batches: int, *, rows_per_batch: int = 10,
                 reuse: int = 4, seed: int = 0, epoch: int = 0, start: int = 0):
        self.dataset, self.batch_size, self.batches, self.start = dataset, min(batch_size, len(dataset)), batches, start
        self.per_row, self.reuse = max(1, batch_size // rows_per_batch), reuse
        self.seed, self.epoch = seed, epoch

    def __len__(self) -> int:
        return self.batches - self.start

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        starts, counts = self.dataset.starts[:-1], np.diff(self.dataset.starts)
        rows = np.flatnonzero(counts)
        order: list[int] = []
        pools: dict[int, list[int]] = {}
        group: list[int] = []
        for number in range(self.batches):
            if number % self.reuse == 0:
                group, pools = [], {}
            batch: list[int] = []
            used: set[int] = set()
            slot = 0
            while len(batch) < self.batch_size:
                if slot == len(group):  # the group grows while its rows cannot fill the batch
                    order = order or rng.permutation(rows).tolist()
                    group.append(order.pop())
                row = group[slot]
                slot += 1
                if not pools.get(row):
                    pools[row] = rng.permutation(counts[row]).tolist()
                take = min(self.per_row, self.batch_size - len(batch))
                while take and pools[row]:
                    item = int(starts[row]) + pools[row].pop()
                    if item not in used:
                        batch.append(item)
                        used.add(item)
                        take -= 1
            if number >= self.start:
                yield [(item, self.epoch) for item in batch]


def evenly_spaced(n: int, pool: int) -> list[int]:
    """``pool`` indices spread evenly over ``range(n)`` (all of them when ``n <= pool``)."""
    return list(range(n)) if n <= pool else [int(i) for i in np.linspace(0, n - 1, pool).round()]


def collate_rows(rows: list[dict]) -> dict:
    """Collate rows of the dataset as ``datasets`` loads it, for a plain ``DataLoader``.

    Use with ``load_dataset(DIR, split=S).cast_column("audio", Audio(decode=False))`` (``datasets``'
    own audio decoding needs torchcodec, which has no CPU build). Images become one uint8 tensor
    (batch, height, width) padded with paper (255); audio is decoded from its FLAC bytes into one
    float32 tensor (batch, samples) padded with zeros, its lengths in ``audio_length``; numbers
    become tensors; strings, bytes and lists (``notes``, ``measures``, ``systems``) stay Python lists.
    """
    out: dict = {}
    for name in rows[0]:
        values = [row[name] for row in rows]
        if name == "image":
            images = [np.asarray(v if isinstance(v, Image.Image) else Image.open(io.BytesIO(v["bytes"])).convert("L")) for v in values]
            batch = np.full((len(images), max(i.shape[0] for i in images), max(i.shape[1] for i in images)), 255, np.uint8)
            for slot, image in zip(batch, images):
                slot[: image.shape[0], : image.shape[1]] = image
            out[name] = torch.from_numpy(batch)
        elif name == "audio":
            signals = [soundfile.read(io.BytesIO(v["bytes"]), dtype="float32")[0] if "bytes" in v else np.asarray(v["array"], np.float32) for v in values]
            batch = np.zeros((len(signals), max(len(s) for s in signals)), np.float32)
            for slot, signal in zip(batch, signals):
                slot[: len(signal)] = signal
            out[name], out["audio_length"] = torch.from_numpy(batch), torch.tensor([len(s) for s in signals])
        elif all(isinstance(v, bool | int | float) for v in values) and not any(v is None for v in values):
            out[name] = torch.tensor(values)
        else:
            out[name] = values
    return out
