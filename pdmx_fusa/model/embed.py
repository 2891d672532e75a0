"""Embed pages and audio with a trained model: :func:`embed_pages`, :func:`embed_audio`.

Without a checkpoint they use the baseline shipped in ``pdmx_fusa/model/weights/baseline.pt``
(no page model ships yet: docs/model.md). A baseline checkpoint embeds sheet snippets (160 x 200
MSMD px windows, see :mod:`.data`) and 2.1 s audio excerpts (their middle 42 frames); a page-model
checkpoint embeds whole pages and page-visit audio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .data import EXCERPT_FRAMES, SNIPPET_SIZE, ink, page_input, visit_input
from .spectrogram import SAMPLE_RATE, frame_count, spectrogram
from .train import load_model

WEIGHTS = Path(__file__).parent / "weights"


def _model(checkpoint: str | Path | None, device: str):
    return load_model(checkpoint if checkpoint is not None else WEIGHTS / "baseline.pt", device)


def _batched(model_embed, inputs: list[torch.Tensor], device: str, batch_size: int) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, len(inputs), batch_size):
            out.append(model_embed(torch.stack(inputs[i:i + batch_size]).to(device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def embed_pages(images: list[np.ndarray], checkpoint: str | Path | None = None, *, device: str = "cpu",
                batch_size: int = 16) -> np.ndarray:
    """L2-normalised embeddings of sheet images.

    Parameters
    ----------
    images : uint8 arrays (height, width), greyscale, paper white (a dataset's ``image``)
    checkpoint : a ``model.pt`` (default: the shipped baseline)

    Returns
    -------
    float32 array (len(images), d): d = 512 (page model) or 32 (baseline)
    """
    model = _model(checkpoint, device)
    pictures = [Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("L") for image in images]
    if model.kind == "fusa":
        inputs = [page_input(p) for p in pictures]
    else:
        inputs = [ink(p.resize(SNIPPET_SIZE[::-1], Image.Resampling.BILINEAR)) for p in pictures]
    return _batched(model.embed_sheet, inputs, device, batch_size)


def embed_audio(signals: list[np.ndarray], sample_rate: int = SAMPLE_RATE, checkpoint: str | Path | None = None, *,
                device: str = "cpu", batch_size: int = 16) -> np.ndarray:
    """L2-normalised embeddings of mono audio at 22.05 kHz (page visits, or excerpts for a baseline).

    Returns
    -------
    float32 array (len(signals), d)
    """
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"embed_audio: audio at {sample_rate} Hz; resample to {SAMPLE_RATE} Hz")
    model = _model(checkpoint, device)
    if model.kind == "fusa":
        inputs = [visit_input(spectrogram(np.asarray(s, np.float32))) for s in signals]
    else:
        middle = [frame_count(len(s)) // 2 - EXCERPT_FRAMES // 2 for s in signals]
        inputs = [torch.from_numpy(spectrogram(np.asarray(s, np.float32), start=m, frames=EXCERPT_FRAMES))[None] for s, m in zip(signals, middle)]
    return _batched(model.embed_audio, inputs, device, batch_size)
