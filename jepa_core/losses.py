"""Regression losses between predictions and targets (core built-ins).

Each averages over every predicted token (and, except ``cosine``, every feature dimension).

>>> SmoothL1Loss(beta=1.0)(torch.zeros(2, 3, 4), torch.ones(2, 3, 4)).item()
0.5
>>> L2Loss()(torch.zeros(2, 3, 4), torch.full((2, 3, 4), 2.0)).item()
4.0
>>> L1Loss()(torch.zeros(2, 3, 4), torch.full((2, 3, 4), -2.0)).item()
2.0
>>> CosineLoss()(torch.ones(2, 3, 4), -torch.ones(2, 3, 4)).item()   # opposite vectors: 2 - 2 * (-1)
4.0
"""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F

from jepa_core.config import positive


@attrs.frozen
class SmoothL1Config:
    """Huber loss with threshold ``beta`` (the reference recipe: beta = 1)."""

    beta: float = attrs.field(default=1.0, validator=positive)


@attrs.frozen
class L2Config:
    """Mean squared error (the loss the paper's text describes)."""


@attrs.frozen
class L1Config:
    """Mean absolute error (V-JEPA's loss)."""


@attrs.frozen
class CosineConfig:
    """``2 - 2 cos(prediction, target)`` per token, averaged (Audio-JEPA; BYOL's normalised L2)."""


class SmoothL1Loss:
    def __init__(self, beta: float = 1.0) -> None:
        self.beta = beta

    def __call__(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.smooth_l1_loss(predictions.float(), targets.float(), beta=self.beta)


class L2Loss:
    def __call__(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(predictions.float(), targets.float())


class L1Loss:
    def __call__(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.l1_loss(predictions.float(), targets.float())


class CosineLoss:
    """Mean over tokens of ``2 - 2 cos``, i.e. the squared L2 distance of the unit-normalised vectors."""

    def __call__(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        cos = F.cosine_similarity(predictions.float(), targets.float(), dim=-1, eps=1e-6)  # [B*M, Nt]
        return (2.0 - 2.0 * cos).mean()
