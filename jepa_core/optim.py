"""The optimizer with the recipe's parameter groups: no weight decay on biases and 1-D parameters.

``optim.optimizer`` picks it: ``adamw`` (the official recipes) or ``muon``, which steps every 2-D
weight matrix with Muon (momentum, then the update's nearest semi-orthogonal matrix by a
Newton-Schulz iteration, scaled to AdamW's update size so the same lr and weight decay apply) and
every other parameter (biases, norms, convolutions, position embeddings, mask tokens) with AdamW.

>>> opt = build_optimizer([("enc", encoder), ("pred", predictor)], optim_cfg)   # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from jepa_core.errors import ConfigError

if TYPE_CHECKING:
    from jepa_core.config import OptimConfig

NEWTON_SCHULZ_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
"""The quintic iteration's (a, b, c) of Muon: singular values land in about [0.7, 1.2] in 5 steps."""


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


def build_optimizer(
    modules: Iterable[tuple[str, nn.Module]], optim: OptimConfig, *, fused: bool | None = None
) -> torch.optim.Optimizer:
    """The optimizer ``optim.optimizer`` names over ``modules``; AdamW's ``fused`` defaults to
    True when every parameter is on CUDA."""
    groups = param_groups(modules)
    if optim.optimizer == "muon":
        return MuonAdamW(
            _muon_groups(groups),
            lr=optim.start_lr,
            betas=(optim.betas[0], optim.betas[1]),
            eps=optim.eps,
            weight_decay=optim.weight_decay,
            momentum=optim.muon_momentum,
            adamw_lr_scale=optim.muon_adamw_lr_scale,
        )
    params = [p for g in groups for p in g["params"]]
    if fused is None:
        fused = bool(params) and all(p.is_cuda for p in params)
    return torch.optim.AdamW(
        groups,
        lr=optim.start_lr,
        betas=(optim.betas[0], optim.betas[1]),
        eps=optim.eps,
        weight_decay=optim.weight_decay,
        fused=fused or None,
    )


def _muon_groups(groups: list[dict]) -> list[dict]:
    """Split the decayed group into its 2-D matrices (Muon) and the rest (AdamW)."""
    decay, no_decay = groups
    matrices = [p for p in decay["params"] if p.ndim == 2]
    others = [p for p in decay["params"] if p.ndim != 2]
    return [
        {"params": matrices, "apply_wd": True, "algorithm": "muon"},
        {"params": others, "apply_wd": True, "algorithm": "adamw"},
        {**no_decay, "algorithm": "adamw"},
    ]


def check_optimizer_strategy(optim: OptimConfig, strategy: str) -> None:
    """Muon needs each weight matrix whole, which FSDP shards: that pair is a ConfigError.

    >>> check_optimizer_strategy(OptimConfig(optimizer="muon"), "ddp")   # doctest: +SKIP
    """
    if optim.optimizer == "muon" and strategy == "fsdp":
        raise ConfigError(
            "optim.optimizer='muon' is not supported with train.strategy='fsdp' (Muon orthogonalises whole "
            "weight matrices, which FSDP shards); use train.strategy 'ddp' or optim.optimizer 'adamw'."
        )


def set_hyperparameters(optimizer: torch.optim.Optimizer, lr: float, weight_decay: float) -> None:
    """Write this step's lr into every group and weight decay into the decayed groups."""
    for group in optimizer.param_groups:
        group["lr"] = lr
        if group.get("apply_wd", True):
            group["weight_decay"] = weight_decay


def orthogonalize(update: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """An approximately semi-orthogonal matrix with the row and column spaces of ``update``
    (``U V^T`` of its SVD, singular values within about [0.7, 1.2]) by Muon's quintic
    Newton-Schulz iteration, in bf16.

    >>> s = torch.linalg.svdvals(orthogonalize(torch.randn(64, 32)).float())
    >>> bool(s.min() > 0.5 and s.max() < 1.5)
    True
    """
    return orthogonalize_all([update], steps)[0]


def orthogonalize_all(updates: Sequence[torch.Tensor], steps: int = 5) -> list[torch.Tensor]:
    """:func:`orthogonalize` of each matrix, those of one shape (up to a transpose), dtype and
    device stacked into one batched iteration: the same numbers from fewer, larger products.

    >>> a, b, c = torch.randn(8, 4), torch.randn(4, 8), torch.randn(5, 5)
    >>> [tuple(o.shape) for o in orthogonalize_all([a, b, c])]
    [(8, 4), (4, 8), (5, 5)]
    """
    out: list[torch.Tensor] = list(updates)
    groups: dict[tuple[int, int, torch.dtype, torch.device], list[int]] = {}
    for i, u in enumerate(updates):
        groups.setdefault((min(u.shape), max(u.shape), u.dtype, u.device), []).append(i)
    for members in groups.values():
        tall = [updates[i].size(0) > updates[i].size(1) for i in members]
        wide = [updates[i].T if t else updates[i] for i, t in zip(members, tall, strict=True)]
        x = _newton_schulz(torch.stack(wide).bfloat16(), steps)  # [G, r, c], r <= c
        for j, (i, t) in enumerate(zip(members, tall, strict=True)):
            out[i] = (x[j].T if t else x[j]).to(updates[i].dtype)
    return out


def _newton_schulz(x: torch.Tensor, steps: int) -> torch.Tensor:
    """The quintic iteration on a stack of wide matrices ``[G, r, c]`` (``r <= c``)."""
    a, b, c = NEWTON_SCHULZ_COEFFICIENTS
    x = x / torch.linalg.vector_norm(x, dim=(1, 2), keepdim=True).clamp(min=1e-7)  # spectral <= Frobenius <= 1
    for _ in range(steps):
        gram = x @ x.mT  # [G, r, r]
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x


class MuonAdamW(torch.optim.Optimizer):
    """Muon for the groups whose ``algorithm`` is ``muon`` (2-D parameters), AdamW for the others;
    decoupled weight decay ``lr * weight_decay`` in both. A Muon update is scaled by
    ``0.2 * sqrt(max(rows, cols))``, which gives it the root-mean-square size of an AdamW update,
    so one lr schedule serves both. ``adamw_lr_scale`` multiplies the lr (and so the decoupled
    weight decay) of the AdamW groups only.

    >>> w, b = nn.Parameter(torch.randn(8, 4)), nn.Parameter(torch.zeros(8))
    >>> opt = MuonAdamW([{"params": [w], "algorithm": "muon"}, {"params": [b], "algorithm": "adamw"}], lr=1e-3)
    >>> (w.sum() + b.sum()).backward(); opt.step()
    """

    def __init__(
        self,
        params: list[dict],
        *,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = 5,
        adamw_lr_scale: float = 1.0,
    ) -> None:
        if not adamw_lr_scale > 0:
            raise ValueError(f"adamw_lr_scale must be > 0, got {adamw_lr_scale!r}")
        self.adamw_lr_scale = adamw_lr_scale
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=nesterov,
            ns_steps=ns_steps,
            algorithm="adamw",
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            if group["algorithm"] not in ("muon", "adamw"):
                raise ValueError(f"algorithm must be 'muon' or 'adamw', got {group['algorithm']!r}")
            if group["algorithm"] == "muon" and any(p.ndim != 2 for p in group["params"]):
                raise ValueError("Muon steps 2-D parameters only; put the others in an 'adamw' group")

    def load_state_dict(self, state_dict: dict) -> None:
        """The base class's, with AdamW's step counts kept on the CPU (a checkpoint loaded onto
        the GPU would otherwise make every step wait for the GPU to read them)."""
        super().load_state_dict(state_dict)
        for state in self.state.values():
            if "step" in state:
                state["step"] = state["step"].cpu()

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if group["algorithm"] == "muon":
                self._muon_step(params, group)
            else:
                for param in params:
                    self._adamw_step(param, param.grad, group)
        return loss

    def _muon_step(self, params: list[torch.Tensor], group: dict) -> None:
        """One Muon step of a group's matrices, orthogonalised together (:func:`orthogonalize_all`)."""
        if not params:
            return
        grads = [p.grad for p in params if p.grad is not None]  # every one (the caller's filter)
        for param in params:
            if "momentum_buffer" not in self.state[param]:
                self.state[param]["momentum_buffer"] = torch.zeros_like(param)
        bufs = [self.state[p]["momentum_buffer"] for p in params]
        torch._foreach_lerp_(bufs, grads, 1 - group["momentum"])
        updates = torch._foreach_lerp(grads, bufs, group["momentum"]) if group["nesterov"] else bufs
        torch._foreach_mul_(params, 1 - group["lr"] * group["weight_decay"])
        for param, update in zip(params, orthogonalize_all(updates, group["ns_steps"]), strict=True):
            scale = 0.2 * math.sqrt(max(param.shape))  # an AdamW update's root-mean-square size
            param.add_(update, alpha=-group["lr"] * scale)

    def _adamw_step(self, param: torch.Tensor, grad: torch.Tensor, group: dict) -> None:
        state = self.state[param]
        if "step" not in state:
            state["step"] = torch.tensor(0.0)
            state["exp_avg"] = torch.zeros_like(param)
            state["exp_avg_sq"] = torch.zeros_like(param)
        beta1, beta2 = group["betas"]
        state["step"] += 1
        step = state["step"].item()
        lr = group["lr"] * self.adamw_lr_scale
        param.mul_(1 - lr * group["weight_decay"])
        state["exp_avg"].lerp_(grad, 1 - beta1)
        state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2**step)).add_(group["eps"])
        param.addcdiv_(state["exp_avg"], denom, value=-lr / (1 - beta1**step))
