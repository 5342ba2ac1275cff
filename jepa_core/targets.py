"""The EMA target provider: a momentum copy of the context encoder (core built-in ``ema``; the
frozen teacher: :mod:`jepa_core.frozen_target`).

>>> provider = EMATargetProvider(encoder)              # doctest: +SKIP
>>> y = provider.targets(x, masks.targets)             # [B*M, Nt, D], no grad   # doctest: +SKIP
>>> provider.update(encoder, momentum=0.996)           # t = m*t + (1-m)*c     # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import attrs
import torch
import torch.nn.functional as F
from torch import nn

from jepa_core.interfaces import TargetProvider, gather_target_blocks


@attrs.frozen
class EMAConfig:
    """``layer_norm_targets``: parameter-free layer norm over features before gathering."""

    layer_norm_targets: bool = True


class EMATargetProvider(nn.Module):
    """Runs a frozen momentum copy of the encoder on ALL tokens, then gathers the targets."""

    def __init__(self, context_encoder: nn.Module, layer_norm_targets: bool = True) -> None:
        super().__init__()
        self.encoder = copy.deepcopy(context_encoder)
        self.encoder.requires_grad_(False)
        self.layer_norm_targets = layer_norm_targets

    @torch.no_grad()
    def targets(self, x: torch.Tensor, target_idx: torch.Tensor) -> torch.Tensor:
        return self.targets_many(x, [target_idx])[0]  # [B*M, Nt, D]

    @torch.no_grad()
    def targets_many(self, x: torch.Tensor, target_idx: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """One encoder pass, then the targets of each index set (multi-mask training)."""
        h = self.encoder(x)  # [B, N, D]
        if self.layer_norm_targets:
            h = F.layer_norm(h, (h.shape[-1],))
        return [gather_target_blocks(h, idx) for idx in target_idx]  # each [B*M_i, Nt_i, D]

    @torch.no_grad()
    def update(self, context_encoder: nn.Module, momentum: float) -> None:
        target_params: list[torch.Tensor] = list(self.encoder.parameters())
        context_params: list[torch.Tensor] = list(context_encoder.parameters())
        if len(target_params) != len(context_params):
            raise RuntimeError("target and context encoders have different parameter lists")
        torch._foreach_mul_(target_params, momentum)
        torch._foreach_add_(target_params, context_params, alpha=1.0 - momentum)


def targets_for(provider: TargetProvider, x: torch.Tensor, target_idx: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Targets of each index set: ``provider.targets_many`` when it has one (one encoder pass),
    else ``provider.targets`` once per set.

    >>> [t.shape for t in targets_for(ema, x, [short.targets, long.targets])]   # doctest: +SKIP
    """
    many = getattr(provider, "targets_many", None)
    if many is not None:
        return list(many(x, list(target_idx)))
    return [provider.targets(x, idx) for idx in target_idx]


def build_ema(cfg: EMAConfig, context_encoder: nn.Module) -> EMATargetProvider:
    return EMATargetProvider(context_encoder, layer_norm_targets=cfg.layer_norm_targets)
