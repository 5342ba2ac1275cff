"""Regression losses between predictions and targets (core built-ins).

Both average over every predicted token and feature dimension.

>>> SmoothL1Loss(beta=1.0)(torch.zeros(2, 3, 4), torch.ones(2, 3, 4)).item()
0.5
>>> L2Loss()(torch.zeros(2, 3, 4), torch.full((2, 3, 4), 2.0)).item()
4.0
>>> L1Loss()(torch.zeros(2, 3, 4), torch.full((2, 3, 4), -2.0)).item()
2.0
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
