"""render: each planned (visit, rendition) synthesised from the score's MIDI to FLAC."""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import soundfile

from ..config import RenderConfig
from ..audio.midi import write_passage
from ..records import Passage, Rendition, Score, Visit
from ..audio.synth import Piano
from .performance import perform


def render(score: Score, planned: list[tuple[Visit, Rendition]], pianos: Mapping[str, Piano], cfg: RenderConfig) -> list[Passage]:
    """Synthesise every planned passage: the notes that begin in the visit, as the rendition plays
    them (:func:`~pdmx_fusa.stages.performance.perform`).

    The audio lasts the visit as played plus ``cfg.release_tail_s`` for the last notes to ring out,
    is peak-normalised to ``cfg.peak_dbfs`` and fades out over its last ``cfg.fade_s``.
    """
    passages = []
    for visit, rendition in planned:
        played, events = perform(score, visit, rendition, cfg)
        samples = pianos[rendition.soundfont].play(events, played.end + cfg.release_tail_s)
        flac = _flac(samples, cfg)
        passages.append(Passage(visit, rendition, flac, write_passage(events), len(samples) / cfg.sample_rate, played))
    return passages


def _flac(samples: np.ndarray, cfg: RenderConfig) -> bytes:
    """FLAC 16-bit of ``samples`` peak-normalised to ``cfg.peak_dbfs`` (the loudest sample there:
    the passage's dynamics stay as played) with a raised-cosine fade over the last ``cfg.fade_s``."""
    peak = float(np.abs(samples).max())
    if peak > 0:
        samples = samples * (10 ** (cfg.peak_dbfs / 20) / peak)
    fade = min(len(samples), round(cfg.fade_s * cfg.sample_rate))
    if fade > 0:
        samples[-fade:] *= 0.5 * (1 + np.cos(np.pi * np.arange(1, fade + 1) / fade))
    out = io.BytesIO()
    soundfile.write(out, samples, cfg.sample_rate, format="FLAC", subtype="PCM_16")
    return out.getvalue()
