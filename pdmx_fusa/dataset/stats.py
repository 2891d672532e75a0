"""Distribution plots of a built dataset, per split, and the card section that shows them.

:func:`write_plots` draws ``stats/<name>.png`` for each of :data:`PLOTS` from the shards' small
columns (read a batch at a time) and returns the card's Markdown section; :func:`update_stats`
does that for a finished dataset folder and puts the section into its ``README.md`` and the new
digests into its ``SHA256SUMS``. Each plot shows, per split, the share of the split's scores,
pages or examples (the splits differ in size by a factor of ten). The PNGs are byte-identical
from run to run: matplotlib's Agg renderer with its default style and fonts, a fixed size and dpi,
and no ``Software`` or date in the PNG metadata.
"""

from __future__ import annotations

import collections
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import matplotlib.style
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .checksums import CHECKSUMS, update_checksums
from .schema import SPLITS

FOLDER = "stats"
DPI = 100
SIZE = (6.4, 3.2)  # inches: 640 x 320 px
COLOURS = {"train": "#1f77b4", "validation": "#ff7f0e", "test": "#2ca02c"}
BEGIN, END = "<!-- stats: drawn by `pdmx-fusa stats` -->", "<!-- /stats -->"

# file name -> (title, x label, what is counted)
PLOTS = {
    "pages_per_score": ("Pages per score", "pages", "scores"),
    "measures_per_page": ("Engraved measures per page", "measures", "pages"),
    "seconds_per_example": ("Seconds of audio per example", "seconds", "examples"),
    "notes_per_second": ("Notes per second of audio", "notes / s", "examples"),
    "keys": ("Key signatures", "key signature (sharps #, flats b)", "examples"),
    "meters": ("Time signatures (the 12 most frequent)", "meter", "examples"),
    "polyphony": ("Most notes sounding at once on a page", "notes", "examples"),
    "soundfonts": ("Soundfonts", "soundfont", "examples"),
    "tempo_ratios": ("Tempo ratios", "tempo ratio", "examples"),
}
_COLUMNS = ["score_id", "n_pages", "page", "measures", "notes", "duration", "key_fifths", "meter", "polyphony", "soundfont", "tempo_ratio"]


@dataclass
class _Split:
    pages_of_score: dict[str, int] = field(default_factory=dict)
    measures_of_page: dict[tuple[str, int], set] = field(default_factory=lambda: collections.defaultdict(set))
    seconds: list[float] = field(default_factory=list)
    notes_per_second: list[float] = field(default_factory=list)
    counts: dict[str, collections.Counter] = field(default_factory=lambda: collections.defaultdict(collections.Counter))

    def values(self, name: str) -> list[float] | collections.Counter:
        if name == "pages_per_score":
            return list(self.pages_of_score.values())
        if name == "measures_per_page":
            return [len(ids) for ids in self.measures_of_page.values()]
        if name == "seconds_per_example":
            return self.seconds
        if name == "notes_per_second":
            return self.notes_per_second
        return self.counts[name]


def write_plots(root: Path) -> list[str]:
    """Draw every plot of :data:`PLOTS` into ``root/stats/`` from the shards under ``root/data``.

    Parameters
    ----------
    root : a dataset folder (``data/<split>-NNNNN-of-NNNNN.parquet``)

    Returns
    -------
    The card section showing them (Markdown lines, between the :data:`BEGIN` and :data:`END` markers).
    """
    splits = _read(root)
    (root / FOLDER).mkdir(exist_ok=True)
    for name in PLOTS:
        (root / FOLDER / f"{name}.png").write_bytes(_draw(name, splits))
    return section()


def section() -> list[str]:
    """The card's Markdown section linking every plot by its relative path."""
    lines = [
        BEGIN,
        "## Distributions",
        "",
        "Per split, as a share of the split's scores, pages or examples (`pdmx-fusa stats DIR` redraws them).",
        "",
    ]
    for name, (title, _, _) in PLOTS.items():
        lines += [f"![{title}]({FOLDER}/{name}.png)", ""]
    return [*lines, END]


def update_stats(root: str | Path) -> list[Path]:
    """Redraw the plots of a built dataset, put their section into its ``README.md`` (replacing the
    one between the markers, else appended) and refresh their lines and the card's in ``SHA256SUMS``.

    Returns the files written. Raises ``FileNotFoundError`` when ``root`` holds no shards or no card.
    """
    root = Path(root)
    card = root / "README.md"
    if not sorted((root / "data").glob("*.parquet")):
        raise FileNotFoundError(f"{root}: no data/*.parquet shards; give the folder a build wrote, e.g. build/pdmx_fusa")
    if not card.is_file():
        raise FileNotFoundError(f"{card}: no dataset card; give the folder a build wrote, e.g. build/pdmx_fusa")
    block = "\n".join(write_plots(root))
    text = card.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + block + "\n"
    card.write_text(text, encoding="utf-8")
    written = [card, *(root / FOLDER / f"{name}.png" for name in PLOTS)]
    if (root / CHECKSUMS).is_file():
        update_checksums(root, written)
    return written


def _read(root: Path) -> dict[str, _Split]:
    splits: dict[str, _Split] = {}
    for split in SPLITS:
        for shard in sorted((root / "data").glob(f"{split}-*.parquet")):
            s = splits.setdefault(split, _Split())
            for batch in pq.ParquetFile(shard).iter_batches(batch_size=256, columns=_COLUMNS):
                col = {name: batch.column(name) for name in _COLUMNS}
                ids, pages = col["score_id"].to_pylist(), col["page"].to_pylist()
                s.pages_of_score.update(zip(ids, col["n_pages"].to_pylist()))
                engraved = pc.list_flatten(col["measures"]).field("engraved_id").to_pylist()
                owner = pc.list_parent_indices(col["measures"]).to_pylist()
                for row, measure in zip(owner, engraved):
                    s.measures_of_page[(ids[row], pages[row])].add(measure)
                seconds = col["duration"].to_numpy(zero_copy_only=False).astype(float)
                notes = pc.list_value_length(col["notes"]).to_numpy(zero_copy_only=False).astype(float)
                s.seconds += seconds.tolist()
                s.notes_per_second += (notes / np.maximum(seconds, 1e-9)).tolist()
                for name, column in (("keys", "key_fifths"), ("meters", "meter"), ("polyphony", "polyphony"),
                                     ("soundfonts", "soundfont"), ("tempo_ratios", "tempo_ratio")):
                    s.counts[name].update(col[column].to_pylist())
    return splits


def _draw(name: str, splits: dict[str, _Split]) -> bytes:
    title, xlabel, unit = PLOTS[name]
    with matplotlib.rc_context():
        matplotlib.style.use("default")  # whatever a matplotlibrc says
        figure = Figure(figsize=SIZE, dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        values = {split: s.values(name) for split, s in splits.items()}
        labels = {split: f"{split} ({_count(v)} {unit})" for split, v in values.items()}
        if all(isinstance(v, collections.Counter) for v in values.values()):
            _bars(axes, name, values, labels)
        else:
            _histogram(axes, values, labels)
        axes.set_title(title)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(f"% of the split's {unit}")
        axes.legend(fontsize="small")
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def _count(values) -> int:
    return sum(values.values()) if isinstance(values, collections.Counter) else len(values)


def _histogram(axes, values: dict[str, list[float]], labels: dict[str, str]) -> None:
    every = np.concatenate([np.asarray(v, float) for v in values.values()]) if values else np.zeros(0)
    integral = every.size and np.all(every == np.round(every)) and every.max() - every.min() <= 60
    if integral:
        bins = np.arange(every.min() - 0.5, every.max() + 1.5)
    else:
        bins = np.histogram_bin_edges(every, bins=30) if every.size else np.linspace(0, 1, 2)
    for split, v in values.items():
        weights = np.full(len(v), 100.0 / max(len(v), 1))
        axes.hist(v, bins=bins, weights=weights, histtype="step", linewidth=1.5, color=COLOURS[split], label=labels[split])


def _bars(axes, name: str, values: dict[str, collections.Counter], labels: dict[str, str]) -> None:
    total = collections.Counter()
    for counter in values.values():
        total.update(counter)
    if name == "meters":
        keys = [k for k, _ in sorted(total.items(), key=lambda item: (-item[1], str(item[0])))[:12]]
    else:
        keys = sorted(total, key=lambda k: (k is None, k))
    width = 0.8 / max(len(values), 1)
    x = np.arange(len(keys))
    for n, (split, counter) in enumerate(values.items()):
        share = [100.0 * counter[k] / max(sum(counter.values()), 1) for k in keys]
        axes.bar(x + (n - (len(values) - 1) / 2) * width, share, width, color=COLOURS[split], label=labels[split])
    axes.set_xticks(x, [_label(name, k) for k in keys], fontsize="small", rotation=30 if name == "soundfonts" else 0)


def _label(name: str, key) -> str:
    if name == "keys":
        return "0" if key == 0 else f"{abs(key)}{'#' if key > 0 else 'b'}"
    if name == "tempo_ratios":
        return f"{key:g}"
    return str(key)
