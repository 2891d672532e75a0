"""The snippet-level baseline of Dorfer et al. (2018, TISMIR, the MSMD paper).

Two VGG-style pathways, one for the 80 x 100 sheet snippet and one for the 92 x 42 spectrogram
excerpt: four blocks of 2 x (3 x 3 convolution, batch norm, ELU) with 24, 48, 96 and 96 maps,
each block followed by 2 x 2 max pooling; a 1 x 1 convolution to 32 maps, batch norm, global
average pooling; then the embedding layer and L2 normalisation. Convolutions carry no bias
(batch norm follows each).

The embedding layer is ``"cca"``, the published canonically correlated layer (:mod:`.cca`:
projections recomputed per batch, gradients through the eigendecomposition, refit before
testing), or ``"linear"``, one learnt 32 x 32 linear map (with bias) per pathway. ``linear`` is
the default because on our data the CCA layer did not train: its validation MRR stayed at chance
for 200-800 steps where ``linear`` reached 5x chance in 150 (docs/model.md).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .cca import CCALayer

WIDTHS = (24, 48, 96, 96)
EMBEDDING = 32
EMBEDDINGS = ("linear", "cca")


def conv_bn_elu(inputs: int, outputs: int) -> list[nn.Module]:
    return [nn.Conv2d(inputs, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ELU()]


def pathway(widths: tuple[int, ...] = WIDTHS, out: int = EMBEDDING, stem: int = 0) -> nn.Sequential:
    """One modality's encoder: (batch, 1, h, w) -> (batch, ``out``); ``stem`` > 0 puts a 5 x 5
    stride-2 convolution to ``stem`` maps (with batch norm and ELU) first."""
    layers, inputs = [], 1
    if stem:
        layers, inputs = [nn.Conv2d(1, stem, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(stem), nn.ELU()], stem
    for width in widths:
        layers += [*conv_bn_elu(inputs, width), *conv_bn_elu(width, width), nn.MaxPool2d(2)]
        inputs = width
    return nn.Sequential(*layers, nn.Conv2d(inputs, out, 1, bias=False), nn.BatchNorm2d(out),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())


class Baseline(nn.Module):
    """Sheet snippets (batch, 1, 80, 100) and audio excerpts (batch, 1, 92, 42) into a shared
    32-d space; :meth:`forward` returns both embeddings L2-normalised.

    Parameters
    ----------
    embedding : ``"linear"`` or ``"cca"`` (the published layer), see the module's docstring
    """

    kind = "baseline"

    def __init__(self, embedding: str = "linear"):
        super().__init__()
        if embedding not in EMBEDDINGS:
            raise ValueError(f"embedding {embedding!r}: choose one of {', '.join(EMBEDDINGS)}")
        self.embedding = embedding
        self.sheet, self.audio = pathway(), pathway()
        if embedding == "cca":
            self.cca = CCALayer(EMBEDDING)
        else:
            self.sheet_projection, self.audio_projection = nn.Linear(EMBEDDING, EMBEDDING), nn.Linear(EMBEDDING, EMBEDDING)

    def forward(self, sheet: torch.Tensor, audio: torch.Tensor) -> dict:
        x, y = self.sheet(sheet), self.audio(audio)
        x, y = self.cca(x, y) if self.embedding == "cca" else (self.sheet_projection(x), self.audio_projection(y))
        return {"sheet": F.normalize(x, dim=1), "audio": F.normalize(y, dim=1)}

    def _project(self, features: torch.Tensor, view: str) -> torch.Tensor:
        if self.embedding == "cca":
            return self.cca.project(features, view)
        return (self.sheet_projection if view == "x" else self.audio_projection)(features)

    def embed_sheet(self, sheet: torch.Tensor) -> torch.Tensor:
        """Normalised embeddings of sheet inputs alone (a CCA layer's running estimates)."""
        return F.normalize(self._project(self.sheet(sheet), "x"), dim=1)

    def embed_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """Normalised embeddings of audio inputs alone (a CCA layer's running estimates)."""
        return F.normalize(self._project(self.audio(audio), "y"), dim=1)

    def features(self, sheet: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The pathways' outputs before the CCA layer (what :meth:`refit` gathers)."""
        return self.sheet(sheet), self.audio(audio)

    def refit(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
        """Refit a CCA layer on pathway outputs x, y (n, 32); returns the canonical correlations
        (None for the linear embedding, which has nothing to refit)."""
        return self.cca.fit(x, y) if self.embedding == "cca" else None
