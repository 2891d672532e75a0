"""The canonically correlated embedding layer (Dorfer et al., "End-to-end cross-modality
retrieval with CCA projections and pairwise ranking loss", IJMIR 2018).

In training, the projections are recomputed on every batch from its regularised covariances,
and the gradients flow through the eigendecompositions (``torch.linalg.eigh``). Running
estimates of the means and covariances (exponential averages) serve evaluation, and
:meth:`CCALayer.fit` replaces them with exact statistics over many pairs (the refit on 25,000
training pairs before testing).
"""

from __future__ import annotations

import torch
from torch import nn

REGULARISATION = 1e-3


def _inverse_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(1e-12).rsqrt()) @ vectors.T


def projections(cov_x: torch.Tensor, cov_y: torch.Tensor, cov_xy: torch.Tensor, r: float = REGULARISATION):
    """CCA projections from covariances.

    Parameters
    ----------
    cov_x, cov_y : (d, d) covariances of each view; ``r`` times the identity is added
    cov_xy : (d, d) cross-covariance
    r : regularisation

    Returns
    -------
    (A, B, correlations): (d, d) projections of x and y, columns by decreasing canonical
    correlation, and the (d,) canonical correlations
    """
    eye = torch.eye(cov_x.shape[0], dtype=cov_x.dtype, device=cov_x.device)
    root_x, root_y = _inverse_sqrt(cov_x + r * eye), _inverse_sqrt(cov_y + r * eye)
    t = root_x @ cov_xy @ root_y
    values, v = torch.linalg.eigh(t.T @ t)
    values, v = values.flip(0), v.flip(1)
    correlations = values.clamp_min(1e-12).sqrt()
    u = (t @ v) / correlations
    return root_x @ u, root_y @ v, correlations


def covariances(x: torch.Tensor, y: torch.Tensor):
    """Means and covariances (unbiased) of paired rows x, y (n, d): (mean_x, mean_y, cov_x, cov_y, cov_xy)."""
    mean_x, mean_y = x.mean(0), y.mean(0)
    xc, yc = x - mean_x, y - mean_y
    n = x.shape[0] - 1
    return mean_x, mean_y, xc.T @ xc / n, yc.T @ yc / n, xc.T @ yc / n


class CCALayer(nn.Module):
    """Project two views of dimension ``dim`` onto their canonical directions.

    Parameters
    ----------
    dim : features per view
    r : covariance regularisation
    momentum : weight of a batch in the running estimates
    """

    def __init__(self, dim: int, r: float = REGULARISATION, momentum: float = 0.1):
        super().__init__()
        self.r, self.momentum = r, momentum
        self.register_buffer("mean_x", torch.zeros(dim))
        self.register_buffer("mean_y", torch.zeros(dim))
        self.register_buffer("cov_x", torch.eye(dim))
        self.register_buffer("cov_y", torch.eye(dim))
        self.register_buffer("cov_xy", torch.zeros(dim, dim))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Canonical projections of x, y (n, dim), float32 whatever the autocast."""
        with torch.autocast(x.device.type, enabled=False):
            x, y = x.float(), y.float()
            if self.training:
                stats = covariances(x, y)
                with torch.no_grad():
                    for name, value in zip(("mean_x", "mean_y", "cov_x", "cov_y", "cov_xy"), stats):
                        getattr(self, name).lerp_(value.detach(), self.momentum)
                a, b, _ = projections(*stats[2:], r=self.r)
                return (x - stats[0]) @ a, (y - stats[1]) @ b
            return self.project(x, "x"), self.project(y, "y")

    def project(self, features: torch.Tensor, view: str) -> torch.Tensor:
        """Project one view (``"x"`` or ``"y"``) of features (n, dim) with the running estimates."""
        with torch.autocast(features.device.type, enabled=False):
            a, b, _ = projections(self.cov_x, self.cov_y, self.cov_xy, r=self.r)
            mean, matrix = (self.mean_x, a) if view == "x" else (self.mean_y, b)
            return (features.float() - mean) @ matrix

    @torch.no_grad()
    def fit(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Set the statistics from paired features x, y (n, dim); returns the canonical correlations."""
        stats = covariances(x.double(), y.double())
        for name, value in zip(("mean_x", "mean_y", "cov_x", "cov_y", "cov_xy"), stats):
            getattr(self, name).copy_(value.float())
        return projections(*stats[2:], r=self.r)[2].float()
