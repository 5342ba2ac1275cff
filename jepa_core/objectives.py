"""Objectives: what one training step optimises (core built-ins ``predictive`` and ``lejepa``).

An objective turns one micro-batch and the networks into the loss and its named parts. The
trainer stays objective-agnostic: it wraps the module the objective assembles from the encoder
(and predictor) with DDP/FSDP, accumulates gradients, steps AdamW, updates the target provider
(a no-op without one) and checkpoints the networks, including the objective's own trained
``head`` (e.g. LeJEPA's projector)::

    objective = PredictiveObjective()
    path = objective.trainable_path(encoder, predictor, nets)        # DDP/FSDP wrap this module
    parts = objective.loss_parts(path, batch, nets, step=0)          # {"loss": ..., ...}

* ``predictive`` (I-JEPA, V-JEPA, A-JEPA): the context encoder sees the context tokens, the
  predictor predicts the target provider's features of the target tokens, ``loss`` compares them;
  an optional regulariser (:mod:`jepa_core.regularizers`) on the context encoder's output is added.
* ``lejepa`` (LeJEPA, Balestriero & LeCun 2025): no target encoder, no predictor. Each sample
  comes as V views, either crops from the data (a multi-crop transform: a tuple of views per
  sample, global views first, with the first view's size) or token subsets from a masker
  (:class:`~jepa_core.interfaces.TokenViews`, LeVJEPA), or both: with C crops of one size, token
  view i keeps its tokens of crop i mod C (masked crops, as MSN). Every view is encoded and mean-pooled,
  a projector MLP maps it to ``proj_dim``, and
  ``loss = (1 - sigreg_weight) * invariance + sigreg_weight * SIGReg``: the invariance is the
  configured ``loss`` between each view's projection and the mean projection of the global views
  (``l2``: the mean squared distance), SIGReg the regulariser of :class:`~jepa_core.regularizers.SIGReg`
  on the projections (per view and averaged, or on all views pooled); ``embed_invariance`` adds
  the same invariance term, with that weight, on the pooled embeddings. An optional regulariser
  on each view's encoder output, before the projector (its mean-pooled embedding, its tokens or
  both, as ``regularizer.apply_to`` says), is averaged over the views and added with its weight.
  Probes read the encoder.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import attrs
import torch
from torch import nn

from jepa_core.data import Batch, Inputs
from jepa_core.errors import ConfigError
from jepa_core.interfaces import Loss, MaskSet, TargetProvider, TokenViews, mask_sets
from jepa_core.regularizers import (
    Regularizer,
    SIGReg,
    SIGRegConfig,
    gathered_count,
    gathered_mean,
    is_active,
    regularize,
)
from jepa_core.targets import targets_for
from jepa_core.validators import at_least, finite_non_negative, positive, unit_interval

if TYPE_CHECKING:
    from jepa_core.config import RunConfig
    from jepa_core.registry import Registry


@attrs.frozen
class Networks:
    """The untrained-by-gradient parts an objective's loss uses besides the trainable path."""

    target: TargetProvider  # the core's NoTarget when the run has none
    loss: Loss
    regularizer: Regularizer | None = None  # active ones only


@runtime_checkable
class Objective(Protocol):
    """See the module docstring. ``head`` holds the objective's own trained modules (or None)."""

    head: nn.Module | None

    def trainable_path(self, encoder: nn.Module, predictor: nn.Module, nets: Networks) -> nn.Module: ...

    def loss_parts(
        self, path: Callable[..., Any], batch: Batch, nets: Networks, *, step: int
    ) -> dict[str, torch.Tensor]: ...


# ------------------------------------------------------------------------ predictive


class ContextPath(nn.Module):
    """The predictive objective's trainable part (context encoder + predictor): what DDP/FSDP wraps.

    With ``return_context=True`` the forward also returns the context encoder's output (for a
    regulariser on it), as a ``(predictions, context_tokens)`` pair.
    """

    def __init__(self, encoder: nn.Module, predictor: nn.Module, *, return_context: bool = False) -> None:
        super().__init__()
        self.encoder, self.predictor = encoder, predictor
        self.return_context = return_context
        # A predictor whose forward takes ``mask_index`` (e.g. one mask token per mask set, as
        # V-JEPA) is told which set of a multi-mask batch it serves; others are called as before.
        self.passes_mask_index = "mask_index" in inspect.signature(predictor.forward).parameters

    def forward(
        self,
        x: torch.Tensor,
        context_idx: torch.Tensor | Sequence[torch.Tensor],
        target_idx: torch.Tensor | Sequence[torch.Tensor],
    ) -> Any:
        """Predictions ``[B*M, Nt, D]``; with sequences of index sets (multi-mask), one per set.

        All sets go through ONE call, so DDP/FSDP see a single forward per micro-batch.
        """
        if isinstance(context_idx, torch.Tensor):
            z = self.encoder(x, context_idx)  # [B, Nc, D]
            preds = self.predictor(z, context_idx, target_idx)  # [B*M, Nt, D]
            return (preds, z) if self.return_context else preds
        preds, contexts = [], []
        for i, (c, t) in enumerate(zip(context_idx, target_idx, strict=True)):
            extra = {"mask_index": i} if self.passes_mask_index else {}
            z = self.encoder(x, c)  # [B, Nc_i, D]
            preds.append(self.predictor(z, c, t, **extra))
            contexts.append(z)
        return (preds, contexts) if self.return_context else preds


@attrs.frozen
class PredictiveConfig:
    """The predictive objective has no options of its own (its parts are configured)."""


class PredictiveObjective:
    """I-JEPA's objective (see the module docstring); a regulariser adds ``weight x`` its value."""

    head = None

    def __init__(self, cfg: PredictiveConfig = PredictiveConfig(), encoder: nn.Module | None = None) -> None:
        self.cfg = cfg

    def trainable_path(self, encoder: nn.Module, predictor: nn.Module, nets: Networks) -> nn.Module:
        return ContextPath(encoder, predictor, return_context=nets.regularizer is not None)

    def loss_parts(
        self, path: Callable[..., Any], batch: Batch, nets: Networks, *, step: int
    ) -> dict[str, torch.Tensor]:
        regularizer = nets.regularizer
        x = batch.inputs
        hint = "a view objective's batch (lejepa): train it with its objective (Trainer.from_parts passes it)"
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"the predictive objective takes one input tensor per batch, got {len(x)} views, {hint}")
        if isinstance(batch.masks, TokenViews):
            raise TypeError(f"the predictive objective takes MaskSets, got TokenViews, {hint}")
        if isinstance(batch.masks, MaskSet):
            targets = nets.target.targets(x, batch.masks.targets)  # [B*M, Nt, D]
            out = path(x, batch.masks.context, batch.masks.targets)
            preds, contexts = (out[0], [out[1]]) if regularizer is not None else (out, [])
            loss_pred = nets.loss(preds, targets)
        else:
            sets = mask_sets(batch.masks)
            all_targets = targets_for(nets.target, x, [m.targets for m in sets])
            out = path(x, [m.context for m in sets], [m.targets for m in sets])
            all_preds, contexts = out if regularizer is not None else (out, [])
            losses = [nets.loss(p, t) for p, t in zip(all_preds, all_targets, strict=True)]
            loss_pred = torch.stack(losses).mean()
        if regularizer is None:
            return {"loss": loss_pred}
        loss_reg = torch.stack([regularize(regularizer, z, step=step) for z in contexts]).mean()
        return {"loss": loss_pred + regularizer.weight * loss_reg, "loss_pred": loss_pred, "loss_reg": loss_reg}


# ---------------------------------------------------------------------------- LeJEPA


class GatheredBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm over ``[N, C]`` whose batch statistics are gathered over all processes (like
    SyncBatchNorm, on any backend): two ranks with half a batch each equal one with all of it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        xf = x.float()
        mean = gathered_mean(xf.mean(0))  # [C]
        var = gathered_mean((xf - mean).square().mean(0))  # [C], biased
        running_mean, running_var, batches = self.running_mean, self.running_var, self.num_batches_tracked
        if self.track_running_stats and running_mean is not None and running_var is not None and batches is not None:
            n = gathered_count(x.shape[0])
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                running_mean.lerp_(mean.detach(), m)
                running_var.lerp_(var.detach() * n / max(n - 1, 1), m)
                batches.add_(1)
        y = (xf - mean) / torch.sqrt(var + self.eps)
        return (y * self.weight + self.bias).to(x.dtype) if self.affine else y.to(x.dtype)


def projector(in_dim: int, hidden_dim: int, out_dim: int, layers: int, norm: str) -> nn.Sequential:
    """``layers`` linear layers: ``(Linear, norm, GELU) x (layers - 1)`` then ``Linear`` to ``out_dim``."""
    mods: list[nn.Module] = []
    dim = in_dim
    for _ in range(layers - 1):
        mods += [
            nn.Linear(dim, hidden_dim),
            GatheredBatchNorm1d(hidden_dim) if norm == "batch" else nn.LayerNorm(hidden_dim),
            nn.GELU(),
        ]
        dim = hidden_dim
    mods.append(nn.Linear(dim, out_dim))
    return nn.Sequential(*mods)


@attrs.frozen(kw_only=True)
class LeJEPAConfig:
    """LeJEPA's options: ``sigreg_weight`` is the paper's lambda; the projector is
    ``proj_layers`` linear layers of width ``proj_hidden_dim`` ending at ``proj_dim``, with
    ``norm`` batch (statistics gathered over processes) or layer norm; SIGReg uses ``num_slices``
    directions, per view (``sigreg_per_view``, LeJEPA's minimal example) or on all views pooled;
    ``embed_invariance`` > 0 adds that weight times the same invariance term on the encoder's
    pooled embeddings (before the projector)."""

    sigreg_weight: float = attrs.field(default=0.02, validator=unit_interval)
    proj_dim: int = attrs.field(default=16, validator=positive)
    proj_hidden_dim: int = attrs.field(default=2048, validator=positive)
    proj_layers: int = attrs.field(default=3, validator=at_least(1))
    norm: Literal["batch", "layer"] = "batch"
    num_slices: int = attrs.field(default=1024, validator=positive)
    sigreg_per_view: bool = True
    embed_invariance: float = attrs.field(default=0.0, validator=finite_non_negative)


class ViewPath(nn.Module):
    """LeJEPA's trainable part (encoder + projector): views -> pooled embeddings and projections.

    ``forward(inputs, keep=None)`` -> ``(embeddings [V, B, D], projections [V, B, P])``, and with
    ``return_tokens`` a third item, each view's output tokens (a list of V ``[B, N_v, D]``):
    crop views (``inputs`` a tuple of ``[B, ...]``, views of one shape encoded in one call), or
    token views (``inputs [B, ...]`` and ``keep``, a tuple of ``[B, Nk_v]`` index sets; views
    keeping as many tokens encoded in one call on the repeated inputs), or token views of C crops
    of one shape (``inputs`` a tuple, view i keeping ``keep[i]`` of crop i mod C).
    """

    def __init__(self, encoder: nn.Module, head: nn.Module, *, return_tokens: bool = False) -> None:
        super().__init__()
        self.encoder, self.head, self.return_tokens = encoder, head, return_tokens

    def forward(
        self, inputs: Inputs, keep: Sequence[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        calls: Iterator[tuple[list[int], tuple[Inputs, ...]]]  # view indices, encoder arguments
        if keep is None:  # crop views: one encoder call per view size
            views = list(inputs)
            count = len(views)
            calls = ((idx, (torch.cat([views[i] for i in idx]),)) for idx in _groups([v.shape for v in views]))
        else:  # token views (of crop i mod C): one call per kept-token count
            count = len(keep)
            crops = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
            calls = (
                (idx, (torch.cat([crops[i % len(crops)] for i in idx]), torch.cat([keep[i] for i in idx])))
                for idx in _groups([k.shape for k in keep])
            )
        pooled = [torch.empty(0)] * count
        view_tokens = [torch.empty(0)] * count
        for idx, args in calls:
            tokens = self.encoder(*args)  # [len(idx)*B, N, D]
            for i, chunk in zip(idx, tokens.mean(dim=1).chunk(len(idx)), strict=True):
                pooled[i] = chunk
            if self.return_tokens:
                for i, chunk in zip(idx, tokens.chunk(len(idx)), strict=True):
                    view_tokens[i] = chunk  # [B, N, D]
        emb = torch.stack(pooled)  # [V, B, D]
        v, b, d = emb.shape
        proj = self.head(emb.reshape(v * b, d).float()).reshape(v, b, -1)  # [V, B, P]
        return (emb, proj, view_tokens) if self.return_tokens else (emb, proj)


def _groups(shapes: Sequence[torch.Size]) -> list[list[int]]:
    """The view indices of each distinct shape, in order of first appearance."""
    groups: dict[torch.Size, list[int]] = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(shape, []).append(i)
    return list(groups.values())


class LeJEPAObjective:
    """LeJEPA (see the module docstring); ``build(cfg, encoder)`` sizes the projector."""

    def __init__(self, cfg: LeJEPAConfig = LeJEPAConfig(), encoder: nn.Module | None = None) -> None:
        self.cfg = cfg
        dim = int(getattr(encoder, "embed_dim", cfg.proj_hidden_dim))
        self.head = projector(dim, cfg.proj_hidden_dim, cfg.proj_dim, cfg.proj_layers, cfg.norm)
        self.sigreg = SIGReg(SIGRegConfig(num_slices=cfg.num_slices))

    def trainable_path(self, encoder: nn.Module, predictor: nn.Module, nets: Networks) -> nn.Module:
        return ViewPath(encoder, self.head, return_tokens=_sees_tokens(nets.regularizer))

    def loss_parts(
        self, path: Callable[..., Any], batch: Batch, nets: Networks, *, step: int
    ) -> dict[str, torch.Tensor]:
        if isinstance(batch.masks, TokenViews):
            out = path(batch.inputs, batch.masks.keep)
            num_global = batch.masks.num_global
        else:
            out = path(batch.inputs)
            num_global = global_view_count(batch.inputs)
        emb, proj = out[0], out[1]
        invariance = _invariance(nets.loss, proj, num_global)
        if self.cfg.sigreg_per_view:
            sigreg = torch.stack([self.sigreg(p, step=step) for p in proj]).mean()
        else:
            sigreg = self.sigreg(proj.reshape(-1, proj.shape[-1]), step=step)
        lam = self.cfg.sigreg_weight
        parts = {"loss": (1 - lam) * invariance + lam * sigreg, "loss_inv": invariance, "loss_sigreg": sigreg}
        if self.cfg.embed_invariance > 0:
            embed_inv = _invariance(nets.loss, emb.float(), num_global)
            parts["loss_inv_embed"] = embed_inv
            parts["loss"] = parts["loss"] + self.cfg.embed_invariance * embed_inv
        regularizer = nets.regularizer
        if regularizer is not None:
            if _sees_tokens(regularizer):
                if len(out) < 3:
                    raise ValueError("the regulariser sees tokens: build the path with trainable_path(..., nets)")
                loss_reg = torch.stack([regularize(regularizer, t.float(), step=step) for t in out[2]]).mean()
            else:
                loss_reg = torch.stack([regularizer(e.float(), step=step) for e in emb]).mean()  # each e [B, D]
            parts["loss_reg"] = loss_reg
            parts["loss"] = parts["loss"] + regularizer.weight * loss_reg
        return parts


def _invariance(loss: Loss, views: torch.Tensor, num_global: int) -> torch.Tensor:
    """``loss`` between each view ``views [V, B, F]`` and the mean of the first ``num_global`` views."""
    centre = views[:num_global].mean(0, keepdim=True)  # [1, B, F]
    return loss(views, centre.expand_as(views))


def _sees_tokens(regularizer: Regularizer | None) -> bool:
    return regularizer is not None and regularizer.apply_to != "pooled"


def global_view_count(inputs: Inputs) -> int:
    """Crop views: the leading views with the first view's shape are the global ones."""
    if not isinstance(inputs, (tuple, list)):
        raise ValueError(
            "the lejepa objective needs several views per sample: a multi-crop data transform "
            "(a tuple of views per sample) or a token-views masker"
        )
    first = tuple(inputs[0].shape)
    count = 0
    for view in inputs:
        if tuple(view.shape) != first:
            break
        count += 1
    return count


# ------------------------------------------------------------------- pre-flight checks


def check_objective_parts(cfg: RunConfig, registry: Registry) -> None:
    """The run config names a real component for each part the objective requires and ``none``
    for each it excludes (:class:`~jepa_core.specs.ObjectiveSpec`); else one :class:`ConfigError`.

    >>> check_objective_parts(cfg, registry)            # doctest: +SKIP
    """
    spec = registry.get("objective", cfg.objective.name)
    for section in spec.requires:
        if getattr(cfg, section).name == "none":
            raise ConfigError(
                f"objective '{spec.name}' needs a {section}, but {section}.name is 'none'; set {section}.name to one "
                f"of: {', '.join(n for n in registry.names(section) if n != 'none')}."
            )
    for section in spec.excludes:
        name = getattr(cfg, section).name
        if name != "none":
            raise ConfigError(
                f"objective '{spec.name}' does not use a {section}, but {section}.name is '{name}'; "
                f"set {section}.name=none."
            )


def check_batch_statistics(
    objective: Objective | None, regularizer: Regularizer | None, samples: int, cfg: RunConfig
) -> None:
    """Statistics over the samples of a micro-batch (gathered over processes: ``samples`` in all),
    SIGReg's per view and a regulariser's on pooled features, need at least two samples.

    >>> check_batch_statistics(LeJEPAObjective(), None, 1, cfg)   # doctest: +SKIP
    ConfigError: objective 'lejepa' estimates SIGReg over the samples of each view, ...
    """
    if samples >= 2:
        return
    if isinstance(objective, LeJEPAObjective):
        who = "objective 'lejepa' estimates SIGReg over the samples of each view"
    elif is_active(regularizer) and getattr(regularizer, "apply_to", "pooled") != "tokens":
        who = f"regularizer '{cfg.regularizer.name}' measures the spread of the pooled features over the samples"
    else:
        return
    settings = f"train.batch_size={cfg.train.batch_size}"
    if cfg.train.micro_batch_size is not None:
        settings += f", train.micro_batch_size={cfg.train.micro_batch_size}"
    raise ConfigError(f"{who}, but a micro-batch holds 1 sample over all processes ({settings}); use at least 2.")


def check_views(objective: Objective | None, sample: Any, masks: Any, encoder: nn.Module, cfg: RunConfig) -> None:
    """One sample and one batch of masks suit the objective, and the encoder takes every view size.

    The predictive objective needs context/target masks; ``lejepa`` at least 2 views (crops from
    the data or token views from the masker). Each crop size other than the encoder's own input
    is tried on the encoder (one sample, no gradient), so a size it cannot take fails here.
    """
    if isinstance(objective, PredictiveObjective) and (masks is None or isinstance(masks, TokenViews)):
        raise ConfigError(
            f"objective 'predictive' needs context and target masks, but masker '{cfg.masker.name}' gives "
            f"{'none' if masks is None else 'token views'}; choose a masker such as multiblock."
        )
    views = list(sample) if isinstance(sample, (tuple, list)) else [sample]
    shapes = list(dict.fromkeys(tuple(v.shape) for v in views))
    if isinstance(masks, TokenViews) and len(shapes) > 1:
        raise ConfigError(
            f"masker '{cfg.masker.name}' keeps tokens of every crop on one grid, but data '{cfg.data.name}' gives "
            f"crops of shapes {shapes}; use crops of one size (image data: data.local_crops=0) or no multi-crop."
        )
    if isinstance(objective, LeJEPAObjective):
        count = masks.num_views if isinstance(masks, TokenViews) else len(views)
        if count < 2:
            raise ConfigError(
                f"objective 'lejepa' needs at least 2 views per sample, but data '{cfg.data.name}' with masker "
                f"'{cfg.masker.name}' gives {count}; use a multi-crop data transform or masker.name=token_views."
            )
    expected = getattr(encoder, "expected_input_shape", None)
    for shape in shapes:
        if expected is not None and shape == tuple(expected):
            continue
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                encoder(torch.zeros(1, *shape))
        except (ValueError, RuntimeError) as err:
            raise ConfigError(
                f"encoder '{cfg.encoder.name}' cannot take the data's view of shape {shape} ({err}); "
                "make the crop sizes multiples of the patch size, or change the data's view options."
            ) from err
