"""The training losses over a batch of paired, L2-normalised embeddings x, y (batch, d)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

MARGIN = 0.7
TEMPERATURE = 0.07


def ranking_loss(x: torch.Tensor, y: torch.Tensor, margin: float = MARGIN) -> torch.Tensor:
    """Dorfer et al.'s pairwise ranking (hinge) loss, both directions.

    Each pair i is held against every other item j of the batch:
    ``max(0, margin - s(x_i, y_i) + s(x_i, y_j)) + max(0, margin - s(x_i, y_i) + s(x_j, y_i))``
    with cosine similarity s; summed over j != i, averaged over i.
    """
    scores = x @ y.T
    positive = scores.diagonal()
    off = ~torch.eye(len(x), dtype=torch.bool, device=x.device)
    x_to_y = (margin - positive[:, None] + scores).clamp_min(0)
    y_to_x = (margin - positive[None, :] + scores).clamp_min(0)
    return ((x_to_y + y_to_x) * off).sum() / len(x)


def info_nce(x: torch.Tensor, y: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """Symmetric InfoNCE: the mean of the cross-entropies of x -> y and y -> x over cosine
    similarities divided by ``temperature``, the true partner being the class."""
    logits = x @ y.T / temperature
    target = torch.arange(len(x), device=x.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
