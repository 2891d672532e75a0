"""split: train, validation or test, decided by the piece so duplicates never straddle splits."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from ..config import SplitConfig
from ..dataset.schema import SPLITS
from ..records import ScoreRef
from .composers import clean, surname


def piece_key(ref: ScoreRef, title: str, composer: str) -> str:
    """The duplicate group: PDMX's own where the source has one, else the composer's surname and
    the normalised title (so that every spelling of a composer that :mod:`.composers` merges is one
    piece), else the score id."""
    if ref.group:
        return ref.group
    if not (title or composer):
        return ref.score_id
    # Title order carries meaning ("Op. 1 No. 3"); the surname alone survives every name order and form.
    words = re.findall(r"[a-z0-9]+", unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower())
    return f"{surname(clean(composer))} | {' '.join(words)}"


def piece_id(key: str) -> str:
    """The ``piece_id`` column: 16 hex digits of the sha256 of a :func:`piece_key`."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def split(key: str, cfg: SplitConfig) -> str:
    """A stable split from the piece key alone: the same piece lands in the same split in every
    build; every piece in ``cfg.only`` where that is set."""
    if cfg.only:
        return cfg.only
    u = int.from_bytes(hashlib.sha256(f"{cfg.salt}\0{key}".encode()).digest()[:8], "big") / 2**64
    train, validation, test = SPLITS
    if u < cfg.test:
        return test
    if u < cfg.test + cfg.validation:
        return validation
    return train
