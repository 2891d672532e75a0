"""Pipeline configuration: a TOML file (see ``pipelines/``) read into typed sections.

Every key has a default, so an empty file is the embedded default build. Unknown sections or
keys, and values of the wrong type, are errors that name the file and the key.

The soundfont list and the pipelines ship inside the package (``pdmx_fusa/soundfonts.txt`` and
``pdmx_fusa/pipelines/``, in the repository links to the top-level ``soundfonts.txt`` and
``pipelines/``), so the command builds from any directory: a bare pipeline name that is not an
existing file (``default``, ``folder``, ``pdmx``) selects a shipped pipeline. Relative paths
written in a pipeline file (:data:`PATH_KEYS`) are relative to that file's folder; those of
overrides and defaults are relative to the working directory, and are kept as given.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).parent
SHIPPED_SOUNDFONTS = str((PACKAGE / "soundfonts.txt").resolve())  # the list of the pianos Debian installs
SHIPPED_PIPELINES = PACKAGE / "pipelines"
# Keys whose relative values in a pipeline file are relative to that file's folder.
PATH_KEYS = (("source", "root"), ("render", "soundfonts"), ("output", "dir"), ("output", "cache"))


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
    # More parts (instruments, however many staves each) than this is an ensemble, not piano music:
    # one piano part on any number of staves, or two (piano four hands, a part per hand), pass.
    max_parts: int = 2
    piano_programs: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)  # GM piano family
    # A fermata'd note or rest lasts this many times its written length. 1.0 holds nothing, as
    # MuseScore's playback and the score-derived downbeat annotations of ASAP do; 2.0 doubles it.
    fermata_hold: float = 1.0
    # The tempo after a jump (repeat, volta, D.C., D.S., coda): "carried" runs on at the tempo reached
    # before it until the next mark played, as MuseScore plays and exports a score; "restored" takes
    # the tempo in effect where it lands (the last mark before it in the score).
    tempo_after_jump: str = "carried"
    # Velocities from the score's dynamic marks, hairpins and accents (stages/dynamics.py: pp = 36,
    # mf = 72, ff = 104), each note varied by a normal draw of this many velocity units (seeded by
    # the score id); false keeps Verovio's (90 for every note).
    dynamics: bool = True
    velocity_spread: float = 3.0


@dataclass(frozen=True)
class EngraveConfig:
    width_px: int = 1240  # A4 at 150 dpi: 1240 x 1754 px


@dataclass(frozen=True)
class ExpressiveConfig:
    """``[render.expressive]``: renditions the performance model plays (stages/performance.py)."""

    per_visit: int = 1  # expressive renditions of each visit in ``splits``, besides the constant ones; 0: none
    splits: tuple[str, ...] = ("train",)
    tempo_sd: float = 0.04  # standard deviation of the smooth tempo curve (log tempo, about a fraction)
    phrase_measures: int = 4  # a phrase: this many performed measures, counted from the first
    ritardando: float = 0.12  # tempo lost by the end of a phrase's last measure (twice at the score's end)
    fermata_hold: float = 1.8  # a note under a fermata lasts this many times its length
    asynchrony_ms: float = 15.0  # the most a chord's other notes lag its highest (melody) note
    melody_velocity: int = 8  # velocity between a chord's highest note and its others
    phrase_arch: float = 0.1  # velocity swells by this fraction towards the middle of a phrase
    pedal: bool = True  # sustain pedal measure by measure where the score's MIDI has none


@dataclass(frozen=True)
class RenderConfig:
    soundfonts: str = SHIPPED_SOUNDFONTS  # the soundfont list (see soundfonts.txt); default: the shipped one
    sample_rate: int = 22050
    release_tail_s: float = 1.0  # audio kept after the last measure ends
    peak_dbfs: float = -1.0  # every passage is peak-normalised to this level
    fade_s: float = 0.1  # a raised-cosine fade-out over the last this many seconds of every passage (within the release tail)
    train_tempo_ratios: tuple[float, ...] = (0.9, 1.0, 1.1)
    eval_tempo_ratios: tuple[float, ...] = (1.0,)  # validation and test
    renditions_per_visit: int = 1
    expressive: ExpressiveConfig = field(default_factory=ExpressiveConfig)


@dataclass(frozen=True)
class SplitConfig:
    validation: float = 0.1
    test: float = 0.1
    salt: str = "pdmx-fusa-6"  # any salt; this one puts the embedded default's 13 pieces in all three splits
    only: str = ""  # train, validation or test: every score of the source goes there (an evaluation set of one's own); "": by piece


@dataclass(frozen=True)
class OutputConfig:
    dir: str = "build/pdmx_fusa"  # relative to the working directory unless a pipeline file sets it
    max_shard_mb: int = 256
    cache: str = ""  # per-score results kept between builds; "" is <dir>.cache beside the output


@dataclass(frozen=True)
class RunConfig:
    workers: int = 0  # worker processes; 0: one per CPU core
    timeout_s: float = 300.0  # wall-clock limit for one score, all stages
    # Private memory (MiB) of the process that runs one score: what the score's own work allocates,
    # not the soundfonts and libraries it shares with the build. At least 512: a one-page score
    # takes 20-70 MiB, a 23-page one 230 MiB (docs/pipeline.md, Isolation).
    memory_mb: int = 6144
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


def shipped_pipelines() -> list[str]:
    """The names of the pipelines that ship with the package."""
    return sorted(p.stem for p in SHIPPED_PIPELINES.glob("*.toml"))


def find_pipeline(name: str | Path) -> Path:
    """The pipeline file ``name`` stands for: itself where it is an existing file or has a folder
    in it, else the shipped pipeline of that name (``default`` or ``default.toml``) if there is one."""
    path = Path(name)
    if path.is_file() or len(path.parts) != 1 or str(name) != path.name:
        return path
    shipped = SHIPPED_PIPELINES / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
    return shipped if shipped.is_file() else path


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> PipelineConfig:
    """Read a pipeline file (``None``: the embedded default; a bare name: see :func:`find_pipeline`)
    and apply ``section.key=value`` overrides.

    Override values are TOML (``run.workers=4``, ``source.subsets=["rated"]``); a bare word is
    taken as a string (``source.root=/data/PDMX``). Relative paths in the file are made absolute
    against the file's folder; relative paths in overrides are kept, relative to the working directory.
    """
    where = str(path) if path else "<defaults>"
    data: dict = {}
    if path:
        file = find_pipeline(path)
        where = str(file) if file != Path(path) else where
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            shipped = ", ".join(shipped_pipelines())
            raise ConfigError(f"{where}: no such pipeline file (shipped pipelines: {shipped})") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{where}: not valid TOML: {err}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"{where}: cannot read the pipeline file: {err}") from None
        _anchor(data, file.absolute().parent.resolve())
    for item in overrides:
        key, sep, raw = item.partition("=")
        *tables, name = key.strip().split(".")
        if not sep or not tables:
            raise ConfigError(f"override {item!r}: expected section.key=value")
        table = data
        for part in tables:  # render.expressive.per_visit=0: a key of a nested table
            table = table.setdefault(part, {}) if isinstance(table.get(part, {}), dict) else {}
        table[name] = _parse_value(raw.strip())
    cfg = _build(PipelineConfig, data, where, "")
    _validate(cfg, where)
    return cfg


def _validate(cfg: PipelineConfig, where: str) -> None:
    checks = [
        (cfg.source.kind in ("embedded", "folder", "pdmx"), "source.kind must be embedded, folder or pdmx"),
        (cfg.source.limit >= 0, "source.limit must be 0 or more"),
        (cfg.parse.max_parts >= 1, "parse.max_parts must be at least 1"),
        (1.0 <= cfg.parse.fermata_hold <= 8.0, "parse.fermata_hold must be between 1.0 (no hold) and 8.0"),
        (cfg.parse.tempo_after_jump in ("carried", "restored"), "parse.tempo_after_jump must be carried or restored"),
        (0.0 <= cfg.parse.velocity_spread <= 20.0, "parse.velocity_spread must be between 0 and 20 (velocity units)"),
        (all(r > 0 for r in cfg.render.train_tempo_ratios + cfg.render.eval_tempo_ratios), "tempo ratios must be positive"),
        (bool(cfg.render.train_tempo_ratios and cfg.render.eval_tempo_ratios), "tempo ratio lists must not be empty"),
        (cfg.render.renditions_per_visit >= 1, "render.renditions_per_visit must be at least 1"),
        (cfg.render.sample_rate >= 8000, "render.sample_rate must be at least 8000"),
        (cfg.render.release_tail_s >= 0, "render.release_tail_s must not be negative"),
        (0 <= cfg.render.fade_s <= cfg.render.release_tail_s,
         "render.fade_s must be between 0 and render.release_tail_s (the fade stays within the release tail)"),
        (0 <= cfg.splits.validation and 0 <= cfg.splits.test and cfg.splits.validation + cfg.splits.test < 1,
         "splits.validation and splits.test must be fractions that leave room for train"),
        (cfg.splits.only in ("", "train", "validation", "test"),
         f"splits.only must be train, validation or test (or \"\" to split by piece), got {cfg.splits.only!r}"),
        (cfg.run.workers >= 0, "run.workers must be 0 (one per core) or more"),
        (cfg.run.timeout_s > 0, "run.timeout_s must be positive"),
        (cfg.run.memory_mb >= 512,
         "run.memory_mb must be at least 512 (MiB one score may allocate; an ordinary score needs 20-250), "
         f"got {cfg.run.memory_mb}: set run.memory_mb=512 or more, or leave it out for the default 6144"),
        (cfg.output.max_shard_mb >= 1, "output.max_shard_mb must be at least 1"),
        (cfg.engrave.width_px >= 100, "engrave.width_px must be at least 100"),
        (cfg.render.expressive.per_visit >= 0, "render.expressive.per_visit must be 0 (none) or more"),
        (set(cfg.render.expressive.splits) <= {"train", "validation", "test"},
         "render.expressive.splits must name train, validation or test"),
        (cfg.render.expressive.phrase_measures >= 1, "render.expressive.phrase_measures must be at least 1"),
        (0 <= cfg.render.expressive.ritardando < 0.5, "render.expressive.ritardando must be between 0 and 0.5"),
        (0 <= cfg.render.expressive.tempo_sd <= 0.3, "render.expressive.tempo_sd must be between 0 and 0.3"),
        (1.0 <= cfg.render.expressive.fermata_hold <= 8.0, "render.expressive.fermata_hold must be between 1.0 and 8.0"),
        (0 <= cfg.render.expressive.asynchrony_ms <= 50, "render.expressive.asynchrony_ms must be between 0 and 50"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{where}: {message}")


def _anchor(data: dict, folder: Path) -> None:
    """Make the relative paths of :data:`PATH_KEYS` in a pipeline file's ``data`` relative to
    ``folder`` (absolute; ``~`` expanded). Values of the wrong type are left for :func:`_build` to report."""
    for section, key in PATH_KEYS:
        table = data.get(section)
        if isinstance(table, dict) and isinstance(table.get(key), str) and table[key]:
            table[key] = os.path.normpath(folder / Path(table[key]).expanduser())


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
