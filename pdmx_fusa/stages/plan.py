"""plan: which renditions (soundfont piano, tempo ratio) play each page visit."""

from __future__ import annotations

import dataclasses
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
    """``cfg.renditions_per_visit`` distinct constant renditions per visit, then, in the splits
    ``cfg.expressive.splits`` names, ``cfg.expressive.per_visit`` distinct expressive ones (their
    piano and base tempo ratio drawn from the same choices), each drawn with a seed from the score id."""
    choices = renditions_for(split, fonts, cfg)
    planned = []
    for expressive, count in ((False, cfg.renditions_per_visit), (True, cfg.expressive.per_visit)):
        if expressive and split not in cfg.expressive.splits:
            continue
        name = f"expressive:{score_id}" if expressive else score_id  # constant draws as before expressive ones existed
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big"))
        count = min(count, len(choices))
        for visit in visits:
            for i in sorted(rng.choice(len(choices), count, replace=False)):
                planned.append((visit, dataclasses.replace(choices[i], expressive=expressive)))
    order = {visit: k for k, visit in enumerate(visits)}
    return sorted(planned, key=lambda vr: order[vr[0]])  # visit by visit, constant renditions first
