"""The dataset card: ``README.md`` with YAML that ``datasets`` reads, and a datasheet for people."""

from __future__ import annotations

import collections
from pathlib import Path

import yaml
from datasets import DatasetInfo, SplitDict, SplitInfo

from ..config import PipelineConfig
from ..records import Failure
from ..audio.soundfonts import Soundfont
from ..dataset.schema import with_sample_rate
from .shards import SplitStats

SOURCES = {
    "pdmx": "PDMX (Long et al., ICASSP 2025): public-domain MuseScore scores, compressed MusicXML",
    "folder": "a folder of scores",
    "embedded": "the solo-piano scores shipped in music21's corpus",
}


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
    meta = {
        "pretty_name": "PDMX-FUSA",
        "license": "other",
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
        for field in ("examples", "scores", "pages", "measures", "audio_seconds", "bytes"):
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
        "| split | scores | pages | examples | measures | hours of audio | bytes |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in [*stats.items(), ("total", total)]:
        lines.append(f"| {name} | {s.scores} | {s.pages} | {s.examples} | {s.measures} | {s.audio_seconds / 3600:.2f} | {s.bytes} |")
    lines += [
        "",
        "## Sources and licences",
        "",
        f"Source: {SOURCES[cfg.source.kind]}" + (f" (`{cfg.source.root}`)" if cfg.source.root else "") + ".",
        "",
        "| licence | scores |",
        "|---|---|",
        *(f"| {name or 'not stated'} | {count} |" for name, count in sorted(licenses.items())),
        "",
        "## How it was made",
        "",
        f"- Engraving: Verovio, A4 pages ({cfg.parse.page_width}x{cfg.parse.page_height} tenths of a mm, scale "
        f"{cfg.parse.scale}), rasterised with Skia to greyscale PNG {cfg.engrave.width_px} px wide, with Verovio's own "
        "Leipzig and Liberation Serif fonts.",
        f"- Audio: FluidSynth at {cfg.render.sample_rate} Hz mono, FLAC 16-bit, peak-normalised to {cfg.render.peak_dbfs} dBFS, "
        f"reverb and chorus off; each passage plays the notes that begin in it and rings on for "
        f"{cfg.render.release_tail_s} s. Tempo ratios: train {list(cfg.render.train_tempo_ratios)}, validation and test "
        f"{list(cfg.render.eval_tempo_ratios)}; {cfg.render.renditions_per_visit} rendition(s) per page visit, drawn "
        "with a seed from the score id.",
        "- Timing: measure onsets are Verovio's timemap positions through the tempo map of the same MIDI that was "
        "synthesised.",
        f"- Splits: by piece (PDMX duplicate group, else normalised composer and title), validation "
        f"{cfg.splits.validation}, test {cfg.splits.test}; test audio uses test soundfonts only.",
        "",
        "| soundfont | role | Debian package | file | bank:preset | sha256 |",
        "|---|---|---|---|---|---|",
        *(f"| {f.name} | {f.role} | {f.package} | {Path(f.path).name} | {f.bank}:{f.preset} | `{f.sha256}` |" for f in fonts),
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
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
