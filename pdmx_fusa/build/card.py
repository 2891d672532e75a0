"""The dataset card: ``README.md`` with YAML that ``datasets`` reads, and a datasheet for people."""

from __future__ import annotations

import collections
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import yaml
from datasets import DatasetInfo, SplitDict, SplitInfo

from .. import __version__
from ..config import PipelineConfig
from ..files import machine_cache, write_atomic
from ..records import Failure
from ..audio.soundfonts import Soundfont
from ..dataset.schema import with_sample_rate
from .shards import SplitStats

SOURCES = {
    "pdmx": "PDMX (Long et al., ICASSP 2025): public-domain MuseScore scores, compressed MusicXML",
    "folder": "a folder of scores",
    "embedded": "the solo-piano scores shipped in music21's corpus",
}


# Hub task categories (the Hub's task list): page and audio embeddings for retrieval, and reading
# notes off the page image.
TASK_CATEGORIES = ["image-feature-extraction", "feature-extraction", "image-to-text"]
LICENSE_FILE = "LICENSE.md"
# The Hub's size buckets, by number of examples: (upper bound, bucket)
SIZES = [(10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M"), (10**7, "1M<n<10M"),
         (10**8, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B"), (10**11, "10B<n<100B"), (10**12, "100B<n<1T")]

CITATION = """\
@inproceedings{long2025pdmx,
  title     = {{PDMX}: A Large-Scale Public Domain {MusicXML} Dataset for Symbolic Music Processing},
  author    = {Long, Phillip and Novack, Zachary and Berg-Kirkpatrick, Taylor and McAuley, Julian},
  booktitle = {IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  year      = {2025}
}

@misc{pdmx_fusa,
  title        = {{PDMX-FUSA}: Sheet-Music Pages Aligned with Audio and {MIDI} at the Measure and Note Level},
  author       = {{PDMX-FUSA contributors}},
  howpublished = {Built with the pdmx-fusa pipeline, version VERSION},
  note         = {Pages engraved with Verovio, audio synthesised with FluidSynth}
}"""

LIMITATIONS = [
    "- **Synthetic audio.** FluidSynth plays General MIDI piano soundfonts (the table above), without "
    "room, reverb or chorus. Velocities follow the score's dynamic marks, hairpins and accents by a fixed "
    "curve (pp 36, mf 72, ff 104; docs/pipeline.md), and every passage is peak-normalised, so loudness "
    "between passages says nothing. Recordings of people playing sound different.",
    "- **Mostly mechanical timing.** Times follow the score's notated durations, tempo marks and repeats "
    "scaled by one tempo ratio per example, except in expressive renditions (`expressive`), whose simple "
    "seeded performance model is no pianist; ornaments only as far as Verovio's MIDI plays them. Where a score's repeat or jump "
    "structure is ambiguous, Verovio's reading may differ from MuseScore's (e.g. a first ending without "
    "a second).",
    "- **Verovio's engraving.** Pages are laid out anew by Verovio: system and page breaks, spacing, "
    "fonts and page count differ from the MuseScore originals (and from PDMX's PDFs); page images "
    "are clean renderings, not scans or photos.",
    "- **Metadata.** Titles and composers are the source's, else read from the score's own header, "
    "and can be missing (null), incomplete or mis-encoded as the files are; composer spellings are "
    "merged per build (docs/dataset.md). Splits group a piece's scores by PDMX's duplicate groups, "
    "else by composer surname and title: duplicates titled differently can fall into different splits.",
    "- **Scope.** Solo piano-like scores only (one part, at most a few staves); scores Verovio cannot "
    "lay out or time consistently are left out (`failures.jsonl`).",
]


def size_category(examples: int) -> str:
    """The Hub's ``size_categories`` bucket for a dataset of ``examples`` rows."""
    return next((bucket for bound, bucket in SIZES if examples < bound), "n>1T")


def test_distances(fonts: list[Soundfont]) -> dict[str, dict]:
    """:func:`..audio.compare.piano_distances` of ``fonts``, measured once per set of soundfonts
    (by their sha256) and kept in the machine cache."""
    from ..audio.compare import piano_distances

    key = hashlib.sha256(json.dumps(sorted((f.name, f.role, f.sha256, f.bank, f.preset) for f in fonts)).encode()).hexdigest()[:16]
    path = machine_cache() / f"piano-distances-{key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        found = piano_distances(fonts)
        write_atomic(path, json.dumps(found, sort_keys=True).encode())
        return found


def write_card(
    out: Path,
    cfg: PipelineConfig,
    stats: dict[str, SplitStats],
    fonts: list[Soundfont],
    failures: list[Failure],
    licenses: collections.Counter,
    versions: dict[str, str],
) -> None:
    info = DatasetInfo(
        features=with_sample_rate(cfg.render.sample_rate),
        splits=SplitDict({name: SplitInfo(name, num_bytes=s.bytes, num_examples=s.examples) for name, s in stats.items()}),
    )
    examples = sum(s.examples for s in stats.values())
    meta = {
        "pretty_name": "PDMX-FUSA",
        "license": "other",
        "license_name": "pdmx-fusa-per-score",  # each score's own licence (its `license` column), listed in LICENSE.md
        "license_link": LICENSE_FILE,
        "task_categories": TASK_CATEGORIES,
        "size_categories": [size_category(examples)],
        "tags": ["music", "sheet-music", "audio", "cross-modal-retrieval", "optical-music-recognition"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": name, "path": f"data/{name}-*.parquet"} for name in stats],
                "default": True,
            }
        ],
        "dataset_info": info._to_yaml_dict(),
    }
    total = SplitStats()
    for s in stats.values():
        for field in ("examples", "scores", "pages", "measures", "notes", "noteheads", "audio_seconds", "bytes"):
            setattr(total, field, getattr(total, field) + getattr(s, field))
    lines = [
        "---",
        yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        "# PDMX-FUSA",
        "",
        "Sheet-music pages aligned with the audio and MIDI that play them. Each example is one *page",
        "visit*: a contiguous passage of a performance (repeats unfolded) whose measures all lie on",
        "one engraved page, with the page image, the passage audio and MIDI, and for every measure",
        "its staff and measure boxes in page pixels and its onset and offset in the audio.",
        "",
        "```python",
        "from datasets import Audio, load_dataset",
        "ds = load_dataset(\"path/to/pdmx_fusa\")",
        "ds = ds.cast_column(\"audio\", Audio(decode=False))  # FLAC bytes; decode with soundfile",
        "```",
        "",
        "## Counts",
        "",
        "| split | scores | pages | examples | measures | notes | notehead↔onset pairs | hours of audio | bytes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in [*stats.items(), ("total", total)]:
        lines.append(f"| {name} | {s.scores} | {s.pages} | {s.examples} | {s.measures} | {s.notes} | {s.noteheads} | "
                     f"{s.audio_seconds / 3600:.2f} | {s.bytes} |")
    lines += [
        "",
        "Notes count every note an example plays; notehead↔onset pairs those whose notehead is drawn on "
        "its page (a `box`), once per example, so once per rendition of a page visit.",
    ]
    lines += [
        "",
        "## Sources and licences",
        "",
        f"Source: {SOURCES[cfg.source.kind]}" + (f" (`{cfg.source.root}`)" if cfg.source.root else "") + ".",
        "",
        *_licence_table(licenses),
        "",
        "## How it was made",
        "",
        f"- Engraving: Verovio, A4 pages ({cfg.parse.page_width}x{cfg.parse.page_height} tenths of a mm, scale "
        f"{cfg.parse.scale}), rasterised with Skia to greyscale PNG {cfg.engrave.width_px} px wide, with Verovio's own "
        "Leipzig and Liberation Serif fonts.",
        f"- Audio: FluidSynth at {cfg.render.sample_rate} Hz mono, FLAC 16-bit, peak-normalised to {cfg.render.peak_dbfs} dBFS, "
        f"faded out over the last {cfg.render.fade_s} s, "
        f"reverb and chorus off; each passage plays the notes that begin in it and rings on for "
        f"{cfg.render.release_tail_s} s. Tempo ratios: train {list(cfg.render.train_tempo_ratios)}, validation and test "
        f"{list(cfg.render.eval_tempo_ratios)}; {cfg.render.renditions_per_visit} rendition(s) per page visit, drawn "
        "with a seed from the score id.",
        "- Timing: for MusicXML, the score's own measure lengths, tempo marks (at their positions), fermatas and "
        "performed order (repeats, voltas, D.C., D.S., Fine, Coda), read from the MusicXML, with Verovio's renditions "
        "of the measures laid onto them; for MEI and Humdrum, Verovio's timemap. Measure and note times are those of "
        "the MIDI that was synthesised.",
        f"- Splits: by piece (`piece_id`: PDMX duplicate group, else composer surname and normalised title), validation "
        f"{cfg.splits.validation}, test {cfg.splits.test}; test audio uses test soundfonts only.",
        "",
        "| soundfont | role | origin | licence | file | bank:preset | sha256 |",
        "|---|---|---|---|---|---|---|",
        *(f"| {f.name} | {f.role} | {f.package} | {f.licence} | {Path(f.path).name} | {f.bank}:{f.preset} | `{f.sha256}` |"
          for f in fonts),
        "",
        *(f"- Test piano {name}: {far['bands_db']} dB from the nearest training piano ({far['nearest_train']}) in "
          f"third-octave band levels, {far['mfcc_db']} dB in MFCC statistics, on the same passages "
          "(`pdmx-fusa soundfonts --compare`; docs/pianos.md)." for name, far in test_distances(fonts).items()),
        "",
        "| tool | version |",
        "|---|---|",
        *(f"| {tool} | {v} |" for tool, v in versions.items()),
        "",
        "## Failures",
        "",
        f"{len(failures)} scores were left out; `failures.jsonl` lists each with its stage and reason.",
        "",
    ]
    by_stage = collections.Counter(f.stage for f in failures)
    if by_stage:
        lines += ["| stage | scores |", "|---|---|", *(f"| {stage} | {n} |" for stage, n in sorted(by_stage.items())), ""]
    lines += _tempo_lines(out, cfg)
    lines += ["## Limitations", "", *LIMITATIONS, ""]
    # matplotlib keeps its font cache in the machine cache (with its fallback and one warning), not
    # in a folder of its own choosing with warnings of its own; imported here, when first needed
    os.environ.setdefault("MPLCONFIGDIR", str(machine_cache() / "matplotlib"))
    from ..dataset.stats import write_plots

    lines += [*write_plots(out), ""]
    lines += ["## Citation", "", "```bibtex", CITATION.replace("VERSION", __version__), "```", ""]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
    _write_license(out, licenses)


def _tempo_lines(out: Path, cfg: PipelineConfig) -> list[str]:
    """The expressive renditions and their tempo variation: the distribution, over measures, of
    the tempo played over the rendition's tempo ratio (``measures.tempo / tempo_ratio``)."""
    model = cfg.render.expressive
    lines = ["## Expressive renditions", ""]
    if not model.per_visit:
        return [*lines, "None: every passage plays at a constant tempo ratio (`render.expressive.per_visit = 0`).", ""]
    ratios, examples = [], 0
    for shard in sorted((out / "data").glob("*.parquet")):
        table = pq.read_table(shard, columns=["expressive", "tempo_ratio", "measures"]).to_pydict()
        for expressive, ratio, measures in zip(table["expressive"], table["tempo_ratio"], table["measures"]):
            if expressive:
                examples += 1
                ratios += [m["tempo"] / ratio for m in measures]
    lines += [
        f"{model.per_visit} per page visit in {', '.join(model.splits)} ({examples} examples, `expressive` true), besides the "
        "constant ones: a seeded performance model (docs/performance.md) with a smooth tempo curve "
        f"(sd {model.tempo_sd}), phrase-final ritardandi ({model.phrase_measures}-measure phrases, {model.ritardando}), "
        f"fermatas held x{model.fermata_hold}, chord asynchrony up to {model.asynchrony_ms:g} ms, melody voicing, "
        f"phrase dynamics{' and measure-wise sustain pedal' if model.pedal else ''}. Measure and note times are those of the "
        "MIDI that was synthesised.",
        "",
    ]
    if ratios:
        q = np.percentile(ratios, [5, 25, 50, 75, 95])
        lines += [
            "| local tempo / notated tempo, over measures | p5 | p25 | median | p75 | p95 | measures |",
            "|---|---|---|---|---|---|---|",
            f"| expressive renditions | {' | '.join(f'{v:.3f}' for v in q)} | {len(ratios)} |",
            "",
        ]
    return lines


def _licence_table(licenses: collections.Counter) -> list[str]:
    return ["| licence | scores |", "|---|---|", *(f"| {name or 'not stated'} | {count} |" for name, count in sorted(licenses.items()))]


def _write_license(out: Path, licenses: collections.Counter) -> None:
    """``LICENSE.md``, which the card's ``license_link`` names: the licences the scores carry."""
    lines = [
        "# Licences",
        "",
        "Each example is derived from one score and carries that score's licence, as its source states",
        "it, in the `license` column (null where the source states none). The scores of this build:",
        "",
        *_licence_table(licenses),
        "",
        "The audio is synthesised with the soundfonts the card lists, each under its own licence (see its",
        "Debian package's copyright file). What the pipeline adds to a score (page images, boxes, times,",
        "labels) is offered under the terms of the score it was derived from.",
        "",
    ]
    (out / LICENSE_FILE).write_text("\n".join(lines), encoding="utf-8")
