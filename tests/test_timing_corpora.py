"""Slow: the performed measure onsets of every asap-dev score (parse, then timeline, at tempo ratio
1.0) against ASAP's annotated downbeats, an independent ground truth. Run with ``-m slow``."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CORPORA, needs_corpora
from pdmx_fusa.config import ParseConfig
from pdmx_fusa.records import ScoreRef
from pdmx_fusa.stages import Rejected
from pdmx_fusa.stages.parse import parse
from pdmx_fusa.stages.timeline import timeline

pytestmark = [pytest.mark.slow, needs_corpora]

TOLERANCE = 0.030  # seconds
AGREE = 0.95  # share of a score's downbeats within TOLERANCE for the score to agree


def downbeats(annotations) -> np.ndarray:
    """Seconds of the ``db`` labels of an ASAP annotation file."""
    times = [float(line.split("\t")[0]) for line in annotations.read_text().splitlines() if line.split("\t")[2].split(",")[0] == "db"]
    return np.array(times)


def agreement(score_file) -> float:
    """Share of the annotated downbeats that lie within TOLERANCE of a performed measure onset
    (0 for a score the pipeline rejects)."""
    ref = ScoreRef(score_id=str(score_file), path=str(score_file), source="folder", group="")
    cfg = ParseConfig()
    try:
        score = timeline(parse(ref, cfg), cfg)
    except Rejected:
        return 0.0
    onsets = np.array([p.onset for p in score.performance])
    expected = downbeats(score_file.parent / "midi_score_annotations.txt")
    return float((np.abs(expected[:, None] - onsets[None, :]).min(axis=1) <= TOLERANCE).mean())


def test_downbeats_follow_the_annotations(capsys):
    scores = sorted((CORPORA / "asap-dev").rglob("score.mxl"))
    shares = {str(f.parent.relative_to(CORPORA / "asap-dev")): agreement(f) for f in scores}
    agree = sorted(name for name, share in shares.items() if share >= AGREE)
    with capsys.disabled():
        print(f"\nasap-dev: {len(agree)} of {len(shares)} scores agree (>= {AGREE:.0%} of downbeats within {TOLERANCE * 1000:.0f} ms); "
              f"mean share {np.mean(list(shares.values())):.3f}")
        for name, share in sorted(shares.items(), key=lambda item: item[1])[:12]:
            print(f"  {share:.3f}  {name}")
    assert len(agree) >= 0.9 * len(shares)
