"""Pipeline configuration: a TOML file (see ``pipelines/``) read into typed sections.

Every key has a default, so an empty file is the embedded default build. Unknown sections or
keys, and values of the wrong type, are errors that name the file and the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(ValueError):
    """The pipeline file or an override is wrong; the message says where and why."""


@dataclass(frozen=True)
class SourceConfig:
    kind: str = "embedded"  # "embedded", "folder" or "pdmx"
    root: str = ""  # folder of scores, or the PDMX release root
    extensions: tuple[str, ...] = (".mxl", ".musicxml", ".xml", ".mei", ".krn")
    # PDMX only: every listed ``subset:<name>`` column must be True.
    subsets: tuple[str, ...] = ("no_license_conflict", "deduplicated")
    tracks: str = "0"  # PDMX ``tracks`` value of solo piano
    licenses: tuple[str, ...] = ("publicdomain", "cc-zero")
    min_rating: float = 0.0
    limit: int = 0  # keep only the first N scores (after filtering, sorted by id); 0 keeps all


@dataclass(frozen=True)
class ParseConfig:
    page_width: int = 2100  # Verovio units (tenths of a mm): A4
    page_height: int = 2970
    scale: int = 40  # Verovio layout scale: staff size relative to the page
    max_pages: int = 40
    max_measures: int = 1500  # performed, repeats unfolded
    max_duration_s: float = 1800.0
    max_staves: int = 3  # more staves than this is not a piano score
    piano_programs: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)  # GM piano family


@dataclass(frozen=True)
class EngraveConfig:
    width_px: int = 1240  # A4 at 150 dpi: 1240 x 1754 px


@dataclass(frozen=True)
class RenderConfig:
    soundfonts: str = "soundfonts.txt"
    sample_rate: int = 22050
    release_tail_s: float = 1.0  # audio kept after the last measure ends
    peak_dbfs: float = -1.0  # every passage is peak-normalised to this level
    train_tempo_ratios: tuple[float, ...] = (0.9, 1.0, 1.1)
    eval_tempo_ratios: tuple[float, ...] = (1.0,)  # validation and test
    renditions_per_visit: int = 1


@dataclass(frozen=True)
class SplitConfig:
    validation: float = 0.1
    test: float = 0.1
    salt: str = "pdmx-fusa"


@dataclass(frozen=True)
class OutputConfig:
    dir: str = "build/pdmx_fusa"
    max_shard_mb: int = 256
    cache: str = ""  # per-score results kept between builds; "" is <dir>.cache beside the output


@dataclass(frozen=True)
class RunConfig:
    workers: int = 0  # worker processes; 0: one per CPU core
    timeout_s: float = 300.0  # wall-clock limit for one score, all stages
    memory_mb: int = 6144  # address-space limit of the process that runs one score
    scheduler: str = ""  # a Dask scheduler address (tcp://host:8786) runs the scores on its cluster


@dataclass(frozen=True)
class PipelineConfig:
    source: SourceConfig = field(default_factory=SourceConfig)
    parse: ParseConfig = field(default_factory=ParseConfig)
    engrave: EngraveConfig = field(default_factory=EngraveConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    splits: SplitConfig = field(default_factory=SplitConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    run: RunConfig = field(default_factory=RunConfig)


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> PipelineConfig:
    """Read a pipeline file (``None``: the embedded default) and apply ``section.key=value`` overrides.

    Override values are TOML (``run.workers=4``, ``source.subsets=["rated"]``); a bare word is
    taken as a string (``source.root=/data/PDMX``).
    """
    where = str(path) if path else "<defaults>"
    data: dict = {}
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{where}: no such pipeline file") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{where}: not valid TOML: {err}") from None
    for item in overrides:
        key, sep, raw = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot:
            raise ConfigError(f"override {item!r}: expected section.key=value")
        data.setdefault(section, {})[name] = _parse_value(raw.strip())
    cfg = _build(PipelineConfig, data, where, "")
    _validate(cfg, where)
    return cfg


def _validate(cfg: PipelineConfig, where: str) -> None:
    checks = [
        (cfg.source.kind in ("embedded", "folder", "pdmx"), "source.kind must be embedded, folder or pdmx"),
        (cfg.source.limit >= 0, "source.limit must be 0 or more"),
        (all(r > 0 for r in cfg.render.train_tempo_ratios + cfg.render.eval_tempo_ratios), "tempo ratios must be positive"),
        (bool(cfg.render.train_tempo_ratios and cfg.render.eval_tempo_ratios), "tempo ratio lists must not be empty"),
        (cfg.render.renditions_per_visit >= 1, "render.renditions_per_visit must be at least 1"),
        (cfg.render.sample_rate >= 8000, "render.sample_rate must be at least 8000"),
        (cfg.render.release_tail_s >= 0, "render.release_tail_s must not be negative"),
        (0 <= cfg.splits.validation and 0 <= cfg.splits.test and cfg.splits.validation + cfg.splits.test < 1,
         "splits.validation and splits.test must be fractions that leave room for train"),
        (cfg.run.workers >= 0, "run.workers must be 0 (one per core) or more"),
        (cfg.run.timeout_s > 0, "run.timeout_s must be positive"),
        (cfg.run.memory_mb >= 512, "run.memory_mb must be at least 512"),
        (cfg.output.max_shard_mb >= 1, "output.max_shard_mb must be at least 1"),
        (cfg.engrave.width_px >= 100, "engrave.width_px must be at least 100"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{where}: {message}")


def _parse_value(raw: str):
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _build(cls, data: dict, where: str, prefix: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: [{prefix.rstrip('.')}] must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key {prefix}{unknown[0]} (known: {', '.join(sorted(names))})")
    values = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value, where, f"{prefix}{name}.")
        else:
            values[name] = _coerce(hint, value, where, f"{prefix}{name}")
    return cls(**values)


def _coerce(hint, value, where: str, key: str):
    origin = typing.get_origin(hint)
    if origin is tuple:
        (item,) = set(typing.get_args(hint)) - {Ellipsis}
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {key} must be a list")
        return tuple(_coerce(item, v, where, key) for v in value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: {key} must be {hint.__name__}, got {value!r}")
    return value
