"""AdamW with the recipe's parameter groups: no weight decay on biases and 1-D parameters.

>>> opt = build_optimizer([("enc", encoder), ("pred", predictor)], optim_cfg)   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def param_groups(modules: Iterable[tuple[str, nn.Module]]) -> list[dict]:
    """Two groups: decayed (``apply_wd=True``) and not decayed (biases, norms, 1-D params)."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for _, module in modules:
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            if param.ndim <= 1 or name.endswith(".bias"):
                no_decay.append(param)
            else:
                decay.append(param)
    return [
        {"params": decay, "apply_wd": True},
        {"params": no_decay, "apply_wd": False, "weight_decay": 0.0},
    ]


def build_optimizer(modules: Iterable[tuple[str, nn.Module]], optim, *, fused: bool | None = None) -> torch.optim.AdamW:
    """AdamW over ``modules``; ``fused`` defaults to True when every parameter is on CUDA."""
    groups = param_groups(modules)
    params = [p for g in groups for p in g["params"]]
    if fused is None:
        fused = bool(params) and all(p.is_cuda for p in params)
    return torch.optim.AdamW(
        groups,
        lr=optim.start_lr,
        betas=tuple(optim.betas),
        eps=optim.eps,
        weight_decay=optim.weight_decay,
        fused=fused or None,
    )


def set_hyperparameters(optimizer: torch.optim.Optimizer, lr: float, weight_decay: float) -> None:
    """Write this step's lr into every group and weight decay into the decayed groups."""
    for group in optimizer.param_groups:
        group["lr"] = lr
        if group.get("apply_wd", True):
            group["weight_decay"] = weight_decay
