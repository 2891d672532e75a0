"""The page-level model in the manner of FUSA-Net: a whole page against the audio of its visit.

Each modality has a convolutional encoder (a 5 x 5 stride-2 stem, four blocks of 2 x (3 x 3
convolution, batch norm, ELU) and 2 x 2 max pooling, a 1 x 1 convolution to 512 maps, batch norm,
global average pooling: the "first features"), then a linear projection into the 512-d shared
space, L2-normalised. Before training the two projections are set to the CCA projections of the
encoders' first features on training pairs (:meth:`FusaNet.init_projections`). Auxiliary heads
on the embeddings, shared by both modalities, predict the page's key, meter and polyphony class.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .baseline import pathway
from .cca import REGULARISATION, covariances, projections
from .data import KEYS, METERS, POLYPHONY

WIDTHS = (48, 96, 192, 384)
DIM = 512
HEADS = {"key": KEYS, "meter": len(METERS), "polyphony": POLYPHONY}


def encoder() -> nn.Sequential:
    """(batch, 1, h, w) -> (batch, 512) first features."""
    return pathway(WIDTHS, DIM, stem=WIDTHS[0] // 2)


class FusaNet(nn.Module):
    """Pages (batch, 1, 384, 272) and visit spectrograms (batch, 1, 92, 800) into a 512-d space.

    :meth:`forward` returns ``sheet`` and ``audio`` embeddings (L2-normalised) and the auxiliary
    logits ``{head}_sheet`` / ``{head}_audio`` for each head of :data:`HEADS`.
    """

    kind = "fusa"

    def __init__(self):
        super().__init__()
        self.sheet, self.audio = encoder(), encoder()
        self.project_sheet, self.project_audio = nn.Linear(DIM, DIM), nn.Linear(DIM, DIM)
        self.heads = nn.ModuleDict({name: nn.Linear(DIM, classes) for name, classes in HEADS.items()})

    def forward(self, sheet: torch.Tensor, audio: torch.Tensor) -> dict:
        out = {"sheet": self.embed_sheet(sheet), "audio": self.embed_audio(audio)}
        for name, head in self.heads.items():
            out[f"{name}_sheet"], out[f"{name}_audio"] = head(out["sheet"]), head(out["audio"])
        return out

    def embed_sheet(self, sheet: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.project_sheet(self.sheet(sheet)), dim=1)

    def embed_audio(self, audio: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.project_audio(self.audio(audio)), dim=1)

    def features(self, sheet: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoders' first features (batch, 512) each."""
        return self.sheet(sheet), self.audio(audio)

    @torch.no_grad()
    def init_projections(self, x: torch.Tensor, y: torch.Tensor, r: float = REGULARISATION) -> torch.Tensor:
        """Set both projections to the CCA of first features x, y (n, 512); returns the correlations."""
        mean_x, mean_y, cov_x, cov_y, cov_xy = covariances(x.double(), y.double())
        a, b, correlations = projections(cov_x, cov_y, cov_xy, r=r)
        for layer, mean, matrix in ((self.project_sheet, mean_x, a), (self.project_audio, mean_y, b)):
            layer.weight.copy_(matrix.T.float())
            layer.bias.copy_((-mean @ matrix).float())
        return correlations.float()
