"""plan: which renditions (soundfont piano, tempo ratio) play each page visit."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np

from ..config import RenderConfig
from ..records import Rendition, Visit
from ..audio.soundfonts import Soundfont


def renditions_for(split: str, fonts: list[Soundfont], cfg: RenderConfig) -> list[Rendition]:
    """Every rendition a split may use: training fonts for train and validation, test fonts for test."""
    role = "test" if split == "test" else "train"
    ratios = cfg.train_tempo_ratios if split == "train" else cfg.eval_tempo_ratios
    return [Rendition(f.name, r) for f, r in itertools.product((f for f in fonts if f.role == role), ratios)]


def plan(score_id: str, visits: tuple[Visit, ...], split: str, fonts: list[Soundfont], cfg: RenderConfig) -> list[tuple[Visit, Rendition]]:
    """``cfg.renditions_per_visit`` distinct renditions per visit, drawn with a seed from the score id."""
    choices = renditions_for(split, fonts, cfg)
    seed = int.from_bytes(hashlib.sha256(score_id.encode()).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    count = min(cfg.renditions_per_visit, len(choices))
    return [(visit, choices[i]) for visit in visits for i in sorted(rng.choice(len(choices), count, replace=False))]
