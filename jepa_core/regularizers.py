"""Anti-collapse regularisers on embeddings (core built-ins ``none``, ``vicreg``, ``sigreg``).

A regulariser maps a batch of embeddings ``[N, D]`` to a scalar that is small when the batch is
spread out and large when it has collapsed. The predictive objective adds ``weight x`` it to the
prediction loss, computed on the context encoder's output (``apply_to``: the mean-pooled
embedding of each sample, every token, or both summed)::

    reg = SIGReg(num_slices=1024)
    loss = loss_pred + 0.05 * reg(pooled, step=trainer.step)      # pooled [B, D]

Batch statistics are **gathered** over all processes when ``torch.distributed`` is initialised:
SIGReg all-reduces the empirical characteristic function and VICReg the first and second
moments, with a differentiable all-reduce, so two ranks with ``B/2`` samples each compute the
same value and the same gradients as one rank with ``B`` samples (the slice directions come from
a generator seeded by the run seed and the step, the same on every rank).

* :class:`VICReg` (Bardes et al. 2022, as C-JEPA adds it to I-JEPA): ``variance_weight x``
  mean over channels of ``max(0, std_target - sqrt(Var(z_j) + eps))`` + ``covariance_weight x``
  the sum of squared off-diagonal covariances divided by ``D``.
* :class:`SIGReg` (LeJEPA, Balestriero & LeCun 2025): on ``num_slices`` random unit directions,
  the Epps-Pulley statistic ``N * integral |phi_N(t) - exp(-t^2/2)|^2 exp(-t^2/2) dt`` of the
  projected samples against a standard normal (trapezoid rule over ``t in [0, t_max]`` with
  ``knots`` points, doubled for the symmetric half), averaged over the directions. About 1 for
  samples of an isotropic standard normal, ``~N`` for a collapsed batch. Cost ``O(N K knots)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, Protocol, runtime_checkable

import attrs
import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol

from jepa_core.validators import at_least, finite_non_negative, non_negative, positive

APPLY_TO: tuple[str, ...] = ("pooled", "tokens", "both")


@runtime_checkable
class Regularizer(Protocol):
    """``reg(embeddings [N, D], step=s)`` -> scalar tensor; ``weight`` and ``apply_to`` say how
    an objective uses it (see the module docstring)."""

    weight: float
    apply_to: str

    def __call__(self, embeddings: torch.Tensor, *, step: int) -> torch.Tensor: ...


@attrs.frozen(kw_only=True)
class RegularizerConfig:
    """Options every regulariser shares: its ``weight`` in the loss and what it sees."""

    weight: float = attrs.field(default=1.0, validator=finite_non_negative)
    apply_to: Literal["pooled", "tokens", "both"] = "pooled"


@attrs.frozen(kw_only=True)
class NoRegularizerConfig:
    """No regulariser (the official recipes): the loss is the prediction loss alone."""


@attrs.frozen(kw_only=True)
class VICRegConfig(RegularizerConfig):
    """VICReg's variance and covariance terms (their 25:1 ratio as the default)."""

    variance_weight: float = attrs.field(default=1.0, validator=finite_non_negative)
    covariance_weight: float = attrs.field(default=0.04, validator=finite_non_negative)
    std_target: float = attrs.field(default=1.0, validator=positive)
    eps: float = attrs.field(default=1e-4, validator=positive)


@attrs.frozen(kw_only=True)
class SIGRegConfig(RegularizerConfig):
    """LeJEPA's sketched isotropic Gaussian regulariser; ``seed`` offsets the slice stream."""

    num_slices: int = attrs.field(default=1024, validator=positive)
    t_max: float = attrs.field(default=3.0, validator=positive)
    knots: int = attrs.field(default=17, validator=at_least(2))
    seed: int = attrs.field(default=0, validator=non_negative)


# ----------------------------------------------------------------------- gathering


def distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gathered_mean(t: torch.Tensor) -> torch.Tensor:
    """The mean of ``t`` over all ranks (``t`` itself in one process), differentiable.

    The backward of the all-reduce sums the ranks' gradients; with DDP averaging the parameter
    gradients afterwards, each rank's samples get exactly the gradient of the global statistic.

    >>> gathered_mean(torch.ones(3)).tolist()
    [1.0, 1.0, 1.0]
    """
    if not distributed():
        return t
    world = dist.group.WORLD
    assert world is not None  # set once the default process group exists (distributed() above)
    summed = funcol.wait_tensor(funcol.all_reduce(t.contiguous(), "sum", world))
    return summed / dist.get_world_size()


def gathered_count(n: int) -> int:
    """``n`` summed over ranks (ranks hold equal micro-batches, so ``n * world_size``)."""
    return n * dist.get_world_size() if distributed() else n


# ------------------------------------------------------------------- regularisers


def check_embeddings(name: str, embeddings: torch.Tensor) -> None:
    """``embeddings`` are ``[N, D]`` with ``N >= 1`` (a shape check: no host sync), else one ValueError.

    >>> check_embeddings("SIGReg", torch.zeros(16))
    Traceback (most recent call last):
    ...
    ValueError: SIGReg takes embeddings [N, D] with N >= 1, got shape (16,)
    """
    if embeddings.ndim != 2 or embeddings.shape[0] == 0:
        raise ValueError(f"{name} takes embeddings [N, D] with N >= 1, got shape {tuple(embeddings.shape)}")


class VICReg:
    """See the module docstring. ``VICReg()(z, step=0)`` with ``z [N, D]``, ``N >= 2``.

    >>> reg = VICReg()
    >>> round(float(reg(torch.zeros(8, 4), step=0)), 3)     # collapsed: every std is 0
    0.99
    """

    def __init__(self, cfg: VICRegConfig = VICRegConfig()) -> None:
        self.cfg = cfg
        self.weight, self.apply_to = cfg.weight, cfg.apply_to

    def __call__(self, embeddings: torch.Tensor, *, step: int) -> torch.Tensor:
        check_embeddings("VICReg", embeddings)
        z = embeddings.float()  # [N, D]
        n, d = z.shape
        total = gathered_count(n)
        mean = gathered_mean(z.mean(0))  # [D]
        second = gathered_mean(z.T @ z / n)  # [D, D], E[z z^T]
        cov = (second - torch.outer(mean, mean)) * (total / max(total - 1, 1))  # unbiased
        std = torch.sqrt(torch.diagonal(cov).clamp_min(0) + self.cfg.eps)
        variance = torch.relu(self.cfg.std_target - std).mean()
        off = cov - torch.diag(torch.diagonal(cov))
        covariance = off.pow(2).sum() / d
        return self.cfg.variance_weight * variance + self.cfg.covariance_weight * covariance


def knot_waves(x: torch.Tensor, knots: list[float]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``cos(t x)`` and ``sin(t x)`` for each knot ``t`` in turn. Evenly spaced knots from 0 take
    one cosine and one sine in all: ``cos((j + 1) d x) = cos(j d x) cos(d x) - sin(j d x) sin(d x)``
    and its sine twin, half the time of a cosine and a sine per knot on a CPU, within a few 1e-7
    of them in fp32 over SIGReg's 17 knots; other knots get their own.

    >>> x = torch.tensor([0.5, -2.0])
    >>> [(round(c[1].item(), 4), round(s[1].item(), 4)) for c, s in knot_waves(x, [0.0, 1.0, 2.0])]
    [(1.0, 0.0), (-0.4161, -0.9093), (-0.6536, 0.7568)]
    """
    step = knots[1] - knots[0] if len(knots) > 1 else 0.0
    even = len(knots) > 2 and knots[0] == 0.0 and step > 0
    even = even and all(abs((b - a) - step) <= 1e-5 * step for a, b in zip(knots, knots[1:], strict=False))
    if not even:
        for t in knots:
            xt = x * t
            yield torch.cos(xt), torch.sin(xt)
        return
    cos_step, sin_step = torch.cos(x * step), torch.sin(x * step)
    yield torch.ones_like(x), torch.zeros_like(x)
    cos, sin = cos_step, sin_step
    yield cos, sin
    for _ in range(2, len(knots)):  # fused multiply-adds: two passes over x per line instead of three
        cos, sin = torch.addcmul(cos * cos_step, sin, sin_step, value=-1), torch.addcmul(sin * cos_step, cos, sin_step)
        yield cos, sin


class EmpiricalCharacteristicFunction(torch.autograd.Function):
    """``(proj [N, K], t [T])`` -> the real and imaginary parts ``[K, T]`` of
    ``mean_n exp(i t proj[n, k])``. The backward recomputes the cosines and sines instead of
    keeping them. On a CPU both passes take one knot at a time, so that they work on ``[N, K]``
    tensors that stay in the cache (several times faster than the ``[N, K, T]`` products at
    once: docs/results.md, attention and SIGReg on a CPU), and evenly spaced knots from 0 (as
    SIGReg's) get their cosines and sines by angle addition from the first step's
    (:func:`knot_waves`); elsewhere all knots at once, with no host synchronisation.

    >>> re, im = EmpiricalCharacteristicFunction.apply(torch.zeros(4, 2), torch.tensor([0.0, 1.0]))
    >>> re.tolist(), im.tolist()
    ([[1.0, 1.0], [1.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]])
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, proj: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.save_for_backward(proj, t)
        if proj.device.type != "cpu":
            xt = proj.unsqueeze(-1) * t  # [N, K, T]
            return torch.cos(xt).mean(0), torch.sin(xt).mean(0)
        re, im = proj.new_empty(proj.shape[1], len(t)), proj.new_empty(proj.shape[1], len(t))
        for j, (cos, sin) in enumerate(knot_waves(proj, t.tolist())):
            re[:, j] = cos.mean(0)
            im[:, j] = sin.mean(0)
        return re, im

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad_re: torch.Tensor, grad_im: torch.Tensor
    ) -> tuple[torch.Tensor, None]:
        proj, t = ctx.saved_tensors  # type: ignore[attr-defined]
        n = proj.shape[0]
        # d re / d x = -t sin(t x) / N, d im / d x = t cos(t x) / N
        if proj.device.type != "cpu":
            xt = proj.unsqueeze(-1) * t  # [N, K, T]
            scale = t / n
            return (torch.cos(xt) * (grad_im * scale)).sum(-1) - (torch.sin(xt) * (grad_re * scale)).sum(-1), None
        grad = torch.zeros_like(proj)  # [N, K]
        knots = t.tolist()
        for j, (cos, sin) in enumerate(knot_waves(proj, knots)):
            if knots[j] != 0.0:  # a knot at 0 contributes nothing
                grad.addcmul_(cos, grad_im[:, j] * (knots[j] / n)).addcmul_(sin, grad_re[:, j] * (-knots[j] / n))
        return grad, None


class SIGReg:
    """See the module docstring. ``SIGReg()(z, step=s)`` with ``z [N, D]``.

    >>> reg = SIGReg(SIGRegConfig(num_slices=256))
    >>> float(reg(torch.randn(4096, 16), step=0)) < 2.0, float(reg(torch.zeros(64, 16), step=0)) > 10.0
    (True, True)
    """

    def __init__(self, cfg: SIGRegConfig = SIGRegConfig()) -> None:
        self.cfg = cfg
        self.weight, self.apply_to = cfg.weight, cfg.apply_to
        t = torch.linspace(0.0, cfg.t_max, cfg.knots, dtype=torch.float64)  # [T]
        dt = cfg.t_max / (cfg.knots - 1)
        trapezoid = torch.full_like(t, 2 * dt)  # the integral over [-t_max, t_max]: twice [0, t_max]
        trapezoid[0] = trapezoid[-1] = dt
        self.t = t.float()
        self.normal_cf = torch.exp(-t.square() / 2).float()  # [T], the characteristic function of N(0, 1)
        self.quadrature = (trapezoid * torch.exp(-t.square() / 2)).float()  # [T], weights times w(t)

    def directions(self, dim: int, step: int, device: torch.device) -> torch.Tensor:
        """``[D, K]`` unit columns, the same on every rank for a given step."""
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step)
        a = torch.randn(dim, self.cfg.num_slices, generator=g)
        return (a / a.norm(dim=0, keepdim=True)).to(device)

    def __call__(self, embeddings: torch.Tensor, *, step: int) -> torch.Tensor:
        check_embeddings("SIGReg", embeddings)
        z = embeddings.float()  # [N, D]
        n, d = z.shape
        proj = (z @ self.directions(d, step, z.device)).float()  # [N, K] (bf16 from the product under autocast)
        t, normal_cf, quadrature = (v.to(z.device) for v in (self.t, self.normal_cf, self.quadrature))
        ecf_re, ecf_im = EmpiricalCharacteristicFunction.apply(proj, t)  # [K, T]
        ecf_re, ecf_im = gathered_mean(ecf_re), gathered_mean(ecf_im)
        err = (ecf_re - normal_cf).square() + ecf_im.square()  # [K, T]
        statistic = gathered_count(n) * (err * quadrature).sum(-1)  # [K]
        return statistic.mean()


class NoRegularizer:
    """The ``none`` regulariser: the objective skips it (``weight`` 0, never called)."""

    weight, apply_to = 0.0, "pooled"

    def __call__(self, embeddings: torch.Tensor, *, step: int) -> torch.Tensor:
        return embeddings.new_zeros(())


def is_active(reg: object) -> bool:
    """Whether ``reg`` contributes to the loss (a real regulariser with a positive weight)."""
    return reg is not None and not isinstance(reg, NoRegularizer) and float(getattr(reg, "weight", 0.0)) > 0


def regularize(reg: Regularizer, tokens: torch.Tensor, *, step: int) -> torch.Tensor:
    """``reg`` on context tokens ``[B, N, D]`` as its ``apply_to`` says (unweighted).

    >>> float(regularize(VICReg(), torch.zeros(4, 3, 2), step=0)) > 0
    True
    """
    parts = []
    if reg.apply_to in ("pooled", "both"):
        parts.append(reg(tokens.mean(1), step=step))  # [B, D]
    if reg.apply_to in ("tokens", "both"):
        parts.append(reg(tokens.reshape(-1, tokens.shape[-1]), step=step))  # [B*N, D]
    return parts[0] if len(parts) == 1 else parts[0] + parts[1]
