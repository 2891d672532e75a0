"""Per-score results kept between builds, so a killed or repeated build redoes only what is missing.

A score's entry is keyed by everything that determines its outcome and nothing about where the
collection lies: the input file's bytes and suffix, the score's id within its source and the
source's other metadata, the configuration sections that shape examples, the soundfonts (by
content) and the tool versions. The score's absolute path is left out, so a collection that moves
(or that cluster nodes mount elsewhere) keeps its cache.

An entry is ``<key[:2]>/<key>.arrow``, the score's rows (Arrow IPC; none for a failure), and
``<key[:2]>/<key>.json``, its summary, written after the rows. Both are written to a temporary
name, synced to the disk and renamed (the rename synced too). The summary records the rows file's
size and sha256 and carries a checksum of its own content, so an entry damaged later (a truncated
or rewritten file, a disk error) is found on lookup: it is reported once on stderr, deleted, and
the score is built again.

Failures are kept like successes. One that depends on a limit (a timeout, the memory limit) also
records the limits it ran under, and is run again once that limit is larger.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import stat
from pathlib import Path

from ..audio.soundfonts import Soundfont
from ..config import PipelineConfig, RunConfig
from ..files import write_atomic
from ..records import Failure, ScoreRef

FORMAT = 3  # of the key, the summary and the rows (3: piece_id, example_id); another value never matches an entry
LIMITS = ("timeout_s", "memory_mb")  # the fields of RunConfig a failure may depend on

log = logging.getLogger(__name__)


def score_key(ref: ScoreRef, cfg: PipelineConfig, fonts: list[Soundfont], versions: dict[str, str]) -> str:
    digest = hashlib.sha256()
    try:
        digest.update(_content_digest(ref.path))
    except OSError as err:  # the parse stage reports it; the key still has to exist (and not name the path)
        digest.update(f"unreadable: {err.strerror or type(err).__name__}".encode())
    render = {k: v for k, v in dataclasses.asdict(cfg.render).items() if k != "soundfonts"}
    shaping = {
        "format": FORMAT,
        "ref": {k: v for k, v in dataclasses.asdict(ref).items() if k != "path"},
        "suffix": Path(ref.path).suffix,  # decides how the file is read
        "parse": dataclasses.asdict(cfg.parse),
        "engrave": dataclasses.asdict(cfg.engrave),
        "render": render,
        "splits": dataclasses.asdict(cfg.splits),
        "fonts": [{k: v for k, v in dataclasses.asdict(f).items() if k != "path"} for f in fonts],  # sha256 pins the file
        "versions": versions,
    }
    digest.update(json.dumps(shaping, sort_keys=True).encode())
    return digest.hexdigest()


def _content_digest(path: str) -> bytes:
    """The sha256 of a regular file's bytes; for anything else (a link, a FIFO, a device, a
    folder) the kind of entry it is, found without following, opening or reading it."""
    kind = stat.S_IFMT(os.lstat(path).st_mode)
    if kind == stat.S_IFREG:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as stream:
            kind = stat.S_IFMT(os.fstat(fd).st_mode)
            if kind == stat.S_IFREG:  # still: not swapped since the lstat
                return hashlib.file_digest(stream, "sha256").digest()
    return f"not a regular file: {kind:o}".encode()


def entry(cache: Path, key: str) -> tuple[Path, Path]:
    """The rows file and the summary file of a cache entry."""
    folder = cache / key[:2]
    return folder / f"{key}.arrow", folder / f"{key}.json"


def file_sha256(path: Path) -> tuple[str, int]:
    """The sha256 and the size of a file."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest(), stream.tell()


def _checksum(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def save(cache: Path, key: str, ref: ScoreRef, outcome: dict, run: RunConfig, limited_by: tuple[str, ...] = ()) -> None:
    """Record a score's outcome (fields of ``Outcome`` but ``ref``, ``staged``, ``cached``) under ``key``.

    A built score's rows must already be in the entry's rows file. ``limited_by`` names the
    ``run`` limits (of :data:`LIMITS`) that a failure depends on.
    """
    rows_path, summary_path = entry(cache, key)
    failure = outcome.get("failure")
    if isinstance(failure, Failure):
        outcome = {**outcome, "failure": dataclasses.asdict(failure)}
    rows = None
    if not outcome.get("failure"):
        sha256, size = file_sha256(rows_path)
        rows = {"sha256": sha256, "size": size}
    body = {
        "format": FORMAT,
        "score_id": ref.score_id,
        "outcome": outcome,
        "rows": rows,
        "limits": {name: getattr(run, name) for name in LIMITS},
        "limited_by": sorted(limited_by),
    }
    write_atomic(summary_path, json.dumps({**body, "checksum": _checksum(body)}, sort_keys=True).encode())


def lookup(cache: Path, key: str, ref: ScoreRef, run: RunConfig) -> dict | None:
    """The outcome recorded under ``key`` (as :func:`save` took it, a failure as a :class:`Failure`
    naming ``ref.path``), or None when the score has to be run: no entry, an entry that depends on
    a limit ``run`` has since raised, or a damaged entry, which is reported and deleted."""
    rows_path, summary_path = entry(cache, key)

    def discard(bad: Path, why: str) -> None:
        log.warning("cache: discarded a corrupt entry for %s (%s): %s; rebuilding", ref.score_id, bad, why)
        for path in (summary_path, rows_path):  # the summary first: without it there is no entry
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass

    try:
        data = summary_path.read_bytes()
    except FileNotFoundError:
        return None  # not built yet (rows without a summary: a build killed in between)
    except OSError as err:
        return discard(summary_path, f"summary unreadable ({err.strerror or err})")
    try:
        summary = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return discard(summary_path, f"summary is not JSON ({len(data)} bytes; truncated?)")
    if not isinstance(summary, dict) or not isinstance(summary.get("checksum"), str):
        return discard(summary_path, "summary has no checksum")
    checksum = summary.pop("checksum")
    if _checksum(summary) != checksum:
        return discard(summary_path, "summary checksum mismatch")
    if summary.get("format") != FORMAT or summary.get("score_id") != ref.score_id:
        return discard(summary_path, f"summary is for {summary.get('score_id')!r} in format {summary.get('format')!r}")
    try:
        outcome, rows = dict(summary["outcome"]), summary["rows"]
        stale = any(getattr(run, name) > summary["limits"][name] for name in summary["limited_by"])
        failure = Failure(**outcome["failure"]) if outcome.get("failure") else None
        expected = (rows["size"], rows["sha256"]) if rows is not None else None
    except (KeyError, TypeError, AttributeError) as err:
        return discard(summary_path, f"summary malformed ({type(err).__name__}: {err})")
    if expected is not None:
        try:
            sha256, size = file_sha256(rows_path)
        except FileNotFoundError:
            return discard(rows_path, "rows file missing")
        except OSError as err:
            return discard(rows_path, f"rows file unreadable ({err.strerror or err})")
        if size != expected[0]:
            return discard(rows_path, f"rows file has {size} bytes, {expected[0]} expected (truncated?)")
        if sha256 != expected[1]:
            return discard(rows_path, "rows sha256 mismatch")
    if stale:
        return None  # failed under a smaller limit: run again; the new outcome replaces this one
    if failure is not None:
        if failure.path and failure.path != ref.path:  # the collection has moved: name the file where it is now
            failure.reason = failure.reason.replace(failure.path, ref.path)
            failure.path = ref.path
        outcome["failure"] = failure
    return outcome
