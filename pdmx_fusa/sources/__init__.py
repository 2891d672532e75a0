"""Score sources: each lists the scores of one kind of collection as ``ScoreRef`` records.

Nothing is loaded here; a source only says which files to read and what is known about them.
"""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigError, SourceConfig
from ..records import ScoreRef
from . import embedded, folder, pdmx

KINDS = ("embedded", "folder", "pdmx")


def list_scores(cfg: SourceConfig) -> list[ScoreRef]:
    """The scores ``cfg`` selects, sorted by ``score_id`` (unique), the first ``cfg.limit`` if set."""
    if cfg.kind == "embedded":
        refs = embedded.list_scores()
    elif cfg.kind == "folder":
        refs = folder.list_scores(_root(cfg), cfg.extensions)
    elif cfg.kind == "pdmx":
        refs = pdmx.list_scores(_root(cfg), cfg)
    else:
        raise ConfigError(f"source.kind: unknown kind {cfg.kind!r} (known: {', '.join(KINDS)})")
    if cfg.limit < 0:
        raise ConfigError(f"source.limit: must be 0 (all) or more, got {cfg.limit}")
    refs = sorted(refs, key=lambda ref: ref.score_id)
    return refs[: cfg.limit] if cfg.limit else refs


def source_root(cfg: SourceConfig) -> Path:
    """The folder every score of the source lies in (music21's corpus for the embedded source)."""
    return embedded.corpus_dir().resolve() if cfg.kind == "embedded" else _root(cfg)


def _root(cfg: SourceConfig) -> Path:
    if not cfg.root:
        raise ConfigError(f"source.root: empty, but the {cfg.kind!r} source reads a folder")
    root = Path(cfg.root).expanduser()
    if not root.is_dir():
        reason = "not a folder" if root.exists() else "no such folder"
        raise ConfigError(f"source.root {str(root)!r}: {reason}")
    return root.resolve()
