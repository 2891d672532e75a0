"""split: train, validation or test, decided by the piece so duplicates never straddle splits."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from ..config import SplitConfig
from ..dataset.schema import SPLITS
from ..records import ScoreRef


def piece_key(ref: ScoreRef, title: str, composer: str) -> str:
    """The duplicate group: PDMX's own where the source has one, else normalised composer + title."""
    if ref.group:
        return ref.group
    if not (title or composer):
        return ref.score_id

    def words(text: str) -> list[str]:
        return re.findall(r"[a-z0-9]+", unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower())

    # Name order varies ("Beethoven, Ludwig van"); title order carries meaning ("Op. 1 No. 3").
    return f"{' '.join(sorted(words(composer)))} | {' '.join(words(title))}"


def split(key: str, cfg: SplitConfig) -> str:
    """A stable split from the piece key alone: the same piece lands in the same split in every build."""
    u = int.from_bytes(hashlib.sha256(f"{cfg.salt}\0{key}".encode()).digest()[:8], "big") / 2**64
    train, validation, test = SPLITS
    if u < cfg.test:
        return test
    if u < cfg.test + cfg.validation:
        return validation
    return train
