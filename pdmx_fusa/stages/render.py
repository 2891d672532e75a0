"""render: each planned (visit, rendition) synthesised from the score's MIDI to FLAC."""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import soundfile

from ..config import RenderConfig
from ..audio.midi import Midi, cut_passage, write_passage
from ..records import Passage, Rendition, Visit
from ..audio.synth import Piano


def render(midi: Midi, planned: list[tuple[Visit, Rendition]], pianos: Mapping[str, Piano], cfg: RenderConfig) -> list[Passage]:
    """Synthesise every planned passage: the notes that begin in the visit, tempo-scaled.

    The audio lasts the visit's length divided by the tempo ratio, plus ``cfg.release_tail_s`` for
    the last notes to ring out, and is peak-normalised to ``cfg.peak_dbfs``.
    """
    passages = []
    for visit, rendition in planned:
        events = cut_passage(midi, visit.start, visit.end, rendition.tempo_ratio)
        samples = pianos[rendition.soundfont].play(events, passage_seconds(visit, rendition, cfg))
        passages.append(Passage(visit, rendition, _flac(samples, cfg), write_passage(events), len(samples) / cfg.sample_rate))
    return passages


def passage_seconds(visit: Visit, rendition: Rendition, cfg: RenderConfig) -> float:
    """How long a passage's audio lasts: the visit at the rendition's tempo, plus the release tail."""
    return (visit.end - visit.start) / rendition.tempo_ratio + cfg.release_tail_s


def _flac(samples: np.ndarray, cfg: RenderConfig) -> bytes:
    peak = float(np.abs(samples).max())
    if peak > 0:
        samples = samples * (10 ** (cfg.peak_dbfs / 20) / peak)
    out = io.BytesIO()
    soundfile.write(out, samples, cfg.sample_rate, format="FLAC", subtype="PCM_16")
    return out.getvalue()
