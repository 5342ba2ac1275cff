"""Conformance kit: the contracts every JEPA component must meet, as fast CPU checks.

The project's own tests and third-party plugin authors use the same functions. Each
``check_*`` takes a built component and raises ``AssertionError`` whose message names the
component and the violated property (the failing call's own exception is chained):

- :func:`check_masker` -- :class:`~jepa_core.interfaces.MaskSet` types, shapes and index
  ranges; no duplicate context tokens; context and targets disjoint in every sample (the
  core has no notion of a masker that lets them overlap, so it is always required);
  deterministic given the generator (never the global RNG); picklable (maskers run in
  DataLoader workers).
- :func:`check_encoder` -- ``token_grid``/``embed_dim``; ``[B, N, D]`` and ``[B, K, D]`` outputs;
  finite; every trainable parameter gets a gradient (DDP runs without
  ``find_unused_parameters``); keeping every token equals the full forward; state_dict
  round-trip gives identical outputs.
- :func:`check_predictor` -- ``[B*M, Nt, D]`` sample-major (row ``b*M+m``), finite, depends on
  its context, gradients reach every parameter (a predictor taking ``mask_index`` is run for
  each of its ``num_mask_tokens`` mask sets, as one multi-mask step does).
- :func:`check_target_provider` -- ``[B*M, Nt, D]`` targets without grad, row ``b*M+m``; no
  parameter shared with the encoder; ``update(momentum=1)`` keeps, ``update(momentum=0)``
  copies the encoder.
- :func:`check_loss` -- finite scalar, minimal (zero) on equal inputs, larger on different ones,
  differentiable w.r.t. the predictions, inputs untouched.
- :func:`check_dataset` / :func:`check_dataset_splits` -- non-empty, ``(tensor, int)`` items of
  one shape.
- :func:`check_folder_dataset` -- the folder dataset a plugin names for ``jepa eval
  --train/--val`` is registered and reads ``root``/``val_root``.
- :func:`check_preset` -- builds a preset (after shrinking overrides) and runs ONE
  :meth:`~jepa_core.trainer.Trainer.train_step` on random inputs.

:func:`conformance_cases` enumerates every registered component with the small options of its
spec's ``example`` (see :class:`jepa_core.specs.Example`), so one parametrized test covers a
whole registry. Encoders get ``torch.randn`` inputs of ``encoder.expected_input_shape``, else of
the example's ``input_shape``; predictors and target providers get :func:`random_masks` on their
paired encoder's grid. A third-party plugin's test file (its entry point is named ``seq``)::

    import pytest
    from jepa_core import build_registry
    from jepa_core.testing import conformance_cases

    CASES = conformance_cases(build_registry(), plugins=["seq"])   # only this plugin's parts

    @pytest.mark.parametrize("case", CASES, ids=str)
    def test_my_plugin_conforms(case):
        case.run()      # skips (with the reason) a component whose spec gives no example

Give each spec an ``example`` (e.g. ``MaskerSpec(..., example=lambda: Example(options=MyCfg(),
grid=(8, 8)))``) and check presets with ``check_preset(registry, "my_pkg", "tiny",
overrides=["encoder.depth=1"])``.
"""

from __future__ import annotations

import copy
import inspect
import math
import numbers
import pickle
import sys
import unittest
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import attrs
import torch
from torch import nn

from jepa_core.interfaces import Loss, Masker, MaskSet, TokenViews, token_grid
from jepa_core.masking import random_masks
from jepa_core.objective_checks import check_objective
from jepa_core.registry import Registry, normalize_name
from jepa_core.specs import SPLITS, ComponentSpec, Example, resolve_example

if TYPE_CHECKING:
    from jepa_core.regularizers import Regularizer

__all__ = [
    "ConformanceCase",
    "check_dataset",
    "check_dataset_splits",
    "check_encoder",
    "check_folder_dataset",
    "check_loss",
    "check_masker",
    "check_predictor",
    "check_preset",
    "check_objective",
    "check_regularizer",
    "check_target_provider",
    "conformance_cases",
    "example_input",
    "random_masks",
    "resolve_example",
]

# Order in which conformance_cases lists the kinds.
KIND_ORDER: tuple[str, ...] = (
    "encoder",
    "predictor",
    "target",
    "masker",
    "loss",
    "dataset",
    "regularizer",
    "objective",
)
# Kinds checked with their default options when the spec gives no example (cheap to build).
DEFAULT_OK: frozenset[str] = frozenset({"loss", "target", "regularizer", "objective"})

_ATOL, _RTOL = 1e-5, 1e-4
# (kind, name) -> (the spec's example, or the error its example callable raised)
_Examples = dict[tuple[str, str], tuple[Example | None, str | None]]


# ------------------------------------------------------------------------ helpers
def _who(kind: str, obj: Any, name: str | None) -> str:
    return name if name is not None else f"{kind} {type(obj).__qualname__}"


def _embed_dim(encoder: nn.Module, who: str) -> int:
    dim = getattr(encoder, "embed_dim", None)
    if not isinstance(dim, int):
        raise AssertionError(f"{who}: its encoder's embed_dim must be an int, got {dim!r}")
    return dim


def _require(condition: Any, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _call(who: str, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call component code; an exception becomes an AssertionError naming the component."""
    try:
        return fn(*args, **kwargs)
    except AssertionError:
        raise
    except Exception as err:  # any failure of component code is a conformance failure
        raise AssertionError(f"{who}: {what} raised {type(err).__name__}: {err}") from err


def _shape(t: Any) -> Any:
    return tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__


def _check_tensor(t: Any, shape: tuple[int, ...], who: str, what: str) -> None:
    _require(isinstance(t, torch.Tensor), f"{who}: {what} must return a torch.Tensor, got {type(t).__name__}")
    _require(tuple(t.shape) == tuple(shape), f"{who}: {what} must have shape {tuple(shape)}, got {_shape(t)}")
    _require(bool(torch.isfinite(t).all()), f"{who}: {what} holds non-finite values (NaN/inf)")


def _check_grads(module: nn.Module, who: str) -> None:
    """Every trainable parameter got a finite gradient, and some gradient is non-zero."""
    params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    _require(params, f"{who}: has no trainable parameters (requires_grad=True); nothing would be optimised")
    missing = [n for n, p in params if p.grad is None]
    _require(
        not missing,
        f"{who}: gradients do not flow to parameters {missing[:5]}; every trainable parameter must take part "
        "in the loss (DDP runs without find_unused_parameters)",
    )
    grads = [(n, p.grad) for n, p in params if p.grad is not None]  # all of them (checked above)
    bad = [n for n, g in grads if not bool(torch.isfinite(g).all())]
    _require(not bad, f"{who}: non-finite gradients in {bad[:5]}")
    _require(
        any(bool(g.abs().sum() > 0) for _, g in grads),
        f"{who}: every parameter gradient is zero; the output does not depend on the parameters",
    )


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def example_input(
    encoder: nn.Module,
    batch_size: int = 2,
    *,
    input_shape: Sequence[int] | None = None,
    seed: int = 0,
    name: str | None = None,
) -> torch.Tensor:
    """A random ``torch.randn`` batch for ``encoder``: ``[batch_size, *shape]``.

    The rule: ``encoder.expected_input_shape`` (one sample's shape) when the encoder has it,
    else ``input_shape`` (from the spec's :class:`~jepa_core.specs.Example`). Encoders that need
    other inputs (e.g. token ids) are checked by calling :func:`check_encoder` with your own.
    """
    shape = getattr(encoder, "expected_input_shape", None)
    if shape is None:
        shape = input_shape
    if shape is None:
        raise AssertionError(
            f"{_who('encoder', encoder, name)}: has no expected_input_shape and no example input shape; "
            "give it an expected_input_shape attribute or its spec "
            "example=lambda: Example(options=..., input_shape=...)"
        )
    return torch.randn(batch_size, *tuple(int(s) for s in shape), generator=_generator(seed))


# ------------------------------------------------------------------------- masker
def _draw(masker: Masker, batch_size: int, grid: tuple[int, ...], seed: int, who: str, global_seed: int = 0) -> Any:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(global_seed)  # a masker leaning on the global RNG shows up as non-determinism
        return _call(
            who,
            f"masker({batch_size}, {grid}, generator) (generator seed {seed})",
            masker,
            batch_size,
            grid,
            _generator(seed),
        )


def _same_masks(a: Any, b: Any) -> bool:
    """Equal masks: two MaskSets, two tuples of them (multi-mask) set by set, or two TokenViews."""
    if isinstance(a, TokenViews) or isinstance(b, TokenViews):
        return (
            isinstance(a, TokenViews)
            and isinstance(b, TokenViews)
            and a.num_global == b.num_global
            and len(a.keep) == len(b.keep)
            and all(torch.equal(x, y) for x, y in zip(a.keep, b.keep, strict=True))
        )
    if isinstance(a, tuple) or isinstance(b, tuple):
        a_sets, b_sets = (a if isinstance(a, tuple) else (a,)), (b if isinstance(b, tuple) else (b,))
        return len(a_sets) == len(b_sets) and all(_same_masks(x, y) for x, y in zip(a_sets, b_sets, strict=True))
    return (
        a.context.shape == b.context.shape
        and a.targets.shape == b.targets.shape
        and torch.equal(a.context, b.context)
        and torch.equal(a.targets, b.targets)
    )


def _first_duplicate(rows: torch.Tensor) -> int | None:
    """Index of the first row of ``rows [R, K]`` holding a repeated value, else None."""
    if rows.shape[1] < 2:
        return None
    s = rows.sort(dim=1).values
    dup = (s[:, 1:] == s[:, :-1]).any(dim=1)
    return int(dup.nonzero()[0, 0]) if bool(dup.any()) else None


def _check_maskset(masks: Any, batch_size: int, n: int, who: str, where: str) -> None:
    _require(
        isinstance(masks, MaskSet),
        f"{who}: must return a MaskSet (or a tuple of them), got {type(masks).__name__} ({where})",
    )
    for field in ("context", "targets"):
        t = getattr(masks, field)
        _require(
            isinstance(t, torch.Tensor),
            f"{who}: MaskSet.{field} must be a torch.Tensor, got {type(t).__name__} ({where})",
        )
        _require(t.dtype == torch.long, f"{who}: MaskSet.{field} must have dtype torch.long, got {t.dtype} ({where})")
    ctx, tgt = masks.context, masks.targets
    _require(
        ctx.ndim == 2 and ctx.shape[0] == batch_size,
        f"{who}: context must have shape [B, Nc] = [{batch_size}, Nc] (equal lengths across the batch), "
        f"got {tuple(ctx.shape)} ({where})",
    )
    _require(
        tgt.ndim == 3 and tgt.shape[0] == batch_size,
        f"{who}: targets must have shape [B, M, Nt] = [{batch_size}, M, Nt] (equal lengths across the batch), "
        f"got {tuple(tgt.shape)} ({where})",
    )
    _require(ctx.shape[1] >= 1, f"{who}: the context is empty (Nc = 0) ({where})")
    _require(
        tgt.shape[1] >= 1 and tgt.shape[2] >= 1, f"{who}: the targets are empty, shape {tuple(tgt.shape)} ({where})"
    )
    for field, t in (("context", ctx), ("targets", tgt)):
        lo, hi = int(t.min()), int(t.max())
        _require(
            0 <= lo and hi < n, f"{who}: {field} indices must lie in [0, {n}) for the grid, got [{lo}, {hi}] ({where})"
        )
    bad = _first_duplicate(ctx)
    _require(bad is None, f"{who}: duplicate token indices in the context of sample {bad} ({where})")
    bad = _first_duplicate(tgt.reshape(-1, tgt.shape[2]))
    _require(
        bad is None,
        f"{who}: duplicate token indices within target block {None if bad is None else bad % tgt.shape[1]} "
        f"of sample {None if bad is None else bad // tgt.shape[1]} ({where})",
    )
    in_ctx = torch.zeros(batch_size, n, dtype=torch.bool).scatter_(1, ctx, True)
    in_tgt = torch.zeros(batch_size, n, dtype=torch.bool).scatter_(1, tgt.reshape(batch_size, -1), True)
    overlap = in_ctx & in_tgt
    if bool(overlap.any()):
        b = int(overlap.any(dim=1).nonzero()[0, 0])
        tokens = overlap[b].nonzero().flatten()[:5].tolist()
        raise AssertionError(
            f"{who}: context and targets overlap in sample {b} (tokens {tokens}); they must be disjoint "
            f"(the context may not see what it predicts) ({where})"
        )


def _check_views(views: TokenViews, batch_size: int, n: int, who: str, where: str) -> None:
    """Token views: at least 2, ``num_global`` in [1, V], each ``[B, Nk]`` long, distinct sorted indices in range."""
    _require(
        views.num_views >= 2,
        f"{who}: returned {views.num_views} token view(s); multi-view objectives need 2 or more ({where})",
    )
    _require(
        1 <= views.num_global <= views.num_views,
        f"{who}: num_global={views.num_global} must be in [1, {views.num_views}] ({where})",
    )
    for v, keep in enumerate(views.keep):
        what = f"view {v} ({where})"
        _require(
            isinstance(keep, torch.Tensor)
            and keep.dtype == torch.long
            and keep.ndim == 2
            and keep.shape[0] == batch_size
            and keep.shape[1] >= 1,
            f"{who}: {what} must be a long tensor [{batch_size}, Nk >= 1], got {_shape(keep)}",
        )
        _require(bool(((keep >= 0) & (keep < n)).all()), f"{who}: {what} holds indices outside [0, {n})")
        _require(
            bool((keep[:, 1:] > keep[:, :-1]).all()), f"{who}: {what} must hold distinct indices in ascending order"
        )


def check_masker(
    masker: Masker, grid: Sequence[int], batch_size: int = 4, draws: int = 5, *, name: str | None = None
) -> None:
    """Check a masker on ``grid`` over ``draws`` generator seeds (see the module docstring).

    >>> check_masker(MultiBlockMasker(MultiBlockConfig()), (14, 14))      # doctest: +SKIP
    """
    who = _who("masker", masker, name)
    grid = tuple(int(g) for g in grid)
    n = math.prod(grid)
    for seed in range(draws):
        masks = _draw(masker, batch_size, grid, seed, who)
        where = f"grid {grid}, batch_size {batch_size}, generator seed {seed}"
        if isinstance(masks, TokenViews):
            _check_views(masks, batch_size, n, who, where)
        elif isinstance(masks, tuple):  # multi-mask: every set must hold on its own
            _require(len(masks) > 0, f"{who}: returned an empty tuple of mask sets ({where})")
            for i, one in enumerate(masks):
                _check_maskset(one, batch_size, n, who, f"{where}, mask set {i}")
        else:
            _check_maskset(masks, batch_size, n, who, where)
    first = _draw(masker, batch_size, grid, 0, who, global_seed=1)
    again = _draw(masker, batch_size, grid, 0, who, global_seed=2)
    _require(
        _same_masks(first, again),
        f"{who}: not deterministic: two calls with generators seeded alike gave different masks; draw all "
        "randomness from the `generator` argument (never the global RNG), or resume is not exact",
    )
    try:
        clone = pickle.loads(pickle.dumps(masker))
    except Exception as err:
        raise AssertionError(
            f"{who}: not picklable ({type(err).__name__}: {err}); maskers run inside DataLoader worker processes"
        ) from err
    _require(
        _same_masks(first, _draw(clone, batch_size, grid, 0, who, global_seed=1)),
        f"{who}: a pickled copy draws different masks from the original; pickling must keep its state",
    )


# ------------------------------------------------------------------------ encoder
def _perturb_state(module: nn.Module, seed: int = 1) -> None:
    g = _generator(seed)
    with torch.no_grad():
        for t in module.state_dict().values():  # shares storage with the parameters/buffers
            if t.is_floating_point() and t.numel():
                t.add_(torch.randn(t.shape, generator=g, dtype=t.dtype).to(t.device) * 0.1)


def check_encoder(encoder: nn.Module, example_input: torch.Tensor, *, name: str | None = None) -> None:
    """Check an encoder on a batch ``example_input [B, ...]`` (see the module docstring).

    Works on copies: the caller's module keeps its mode and gets no gradients.
    """
    who = _who("encoder", encoder, name)
    x = example_input
    _require(isinstance(encoder, nn.Module), f"{who}: must be a torch.nn.Module, got {type(encoder).__name__}")
    grid: Any = getattr(encoder, "token_grid", None)  # checked here
    _require(
        isinstance(grid, tuple)
        and len(grid) > 0
        and all(isinstance(g, int) and not isinstance(g, bool) and g >= 1 for g in grid),
        f"{who}: token_grid must be a non-empty tuple of positive ints, got {grid!r}",
    )
    dim: Any = getattr(encoder, "embed_dim", None)  # checked here
    _require(
        isinstance(dim, int) and not isinstance(dim, bool) and dim >= 1,
        f"{who}: embed_dim must be a positive int, got {dim!r}",
    )
    expected = getattr(encoder, "expected_input_shape", None)
    if expected is not None:
        _require(
            tuple(x.shape[1:]) == tuple(expected),
            f"{who}: expected_input_shape {tuple(expected)} does not match the example input's sample shape "
            f"{tuple(x.shape[1:])}",
        )
    b, n = int(x.shape[0]), math.prod(grid)
    model = copy.deepcopy(encoder).train()
    full = _call(who, "forward(x)", model, x)
    _check_tensor(full, (b, n, dim), who, "forward(x) (all tokens, [B, prod(token_grid), embed_dim])")
    k = max(1, n // 2)
    g = _generator(0)
    keep = torch.stack([torch.randperm(n, generator=g)[:k].sort().values for _ in range(b)])
    part = _call(who, "forward(x, keep)", model, x, keep)
    _check_tensor(part, (b, k, dim), who, "forward(x, keep [B, K]) ([B, K, embed_dim])")
    model.zero_grad(set_to_none=True)
    (full.float().square().mean() + part.float().square().mean()).backward()
    _check_grads(model, who)

    model.eval()
    with torch.no_grad():
        ref = model(x)
        everything = model(x, torch.arange(n).expand(b, n).contiguous())
    _require(
        torch.allclose(ref, everything, atol=_ATOL, rtol=_RTOL),
        f"{who}: forward(x, keep=every token in row-major order) differs from forward(x) "
        f"(max abs diff {float((ref - everything).abs().max()):.3g}); keep must select row-major token indices",
    )
    fresh = copy.deepcopy(model)
    _perturb_state(fresh)
    _call(who, "load_state_dict(state_dict())", fresh.load_state_dict, model.state_dict())
    with torch.no_grad():
        restored = fresh(x)
    _require(
        torch.equal(ref, restored),
        f"{who}: state_dict round-trip does not restore the outputs (max abs diff "
        f"{float((ref - restored).abs().max()):.3g}); some state is missing from state_dict()",
    )


# ---------------------------------------------------------------------- predictor
def check_predictor(
    predictor: nn.Module, encoder: nn.Module, example_input: torch.Tensor, masks: MaskSet, *, name: str | None = None
) -> None:
    """Check a predictor built for ``encoder`` on ``masks`` (e.g. :func:`random_masks`).

    With ``B >= 2`` the row layout is checked: rows ``0..M-1`` must depend on sample 0's context
    tokens only (the sample-major ``b * M + m`` layout).
    """
    who = _who("predictor", predictor, name)
    _require(isinstance(predictor, nn.Module), f"{who}: must be a torch.nn.Module, got {type(predictor).__name__}")
    b, m, nt = masks.targets.shape
    dim = _embed_dim(encoder, who)
    with torch.no_grad():
        ctx = encoder(example_input, masks.context).detach()
    ctx.requires_grad_(True)
    model = copy.deepcopy(predictor).train()
    out = _call(who, "forward(context_tokens, context_idx, target_idx)", model, ctx, masks.context, masks.targets)
    _check_tensor(out, (b * m, nt, dim), who, "forward(...) ([B*M, Nt, encoder embed_dim])")
    (grad,) = torch.autograd.grad(out[:m].float().sum(), ctx, retain_graph=True)
    _require(
        bool(grad[0].abs().sum() > 0),
        f"{who}: predictions for sample 0 (rows 0..{m - 1}) do not depend on its context tokens",
    )
    if b > 1:
        _require(
            bool(grad[1:].abs().max() == 0),
            f"{who}: rows 0..{m - 1} depend on other samples' context tokens; predictions must be [B*M, Nt, D] "
            "sample-major (row b*M + m) and computed per sample",
        )
    model.zero_grad(set_to_none=True)
    loss = out.float().square().mean()
    # A predictor serving several mask sets (``mask_index``; e.g. one mask token per set) is run
    # for each of its ``num_mask_tokens`` sets, as one multi-mask training step does.
    sets = getattr(model, "num_mask_tokens", 1) if "mask_index" in inspect.signature(model.forward).parameters else 1
    for i in range(1, sets):
        extra = _call(who, f"forward(..., mask_index={i})", model, ctx, masks.context, masks.targets, mask_index=i)
        _check_tensor(extra, (b * m, nt, dim), who, f"forward(..., mask_index={i})")
        loss = loss + extra.float().square().mean()
    loss.backward()
    _check_grads(model, who)


# ----------------------------------------------------------------- target provider
def check_target_provider(
    target: nn.Module,
    encoder: nn.Module,
    example_input: torch.Tensor,
    masks: MaskSet,
    *,
    name: str | None = None,
    follows_encoder: bool = True,
) -> None:
    """Check a target provider built from ``encoder`` (the context encoder) on ``masks``.

    ``follows_encoder=True`` (EMA-style providers, the default) requires its parameters to
    mirror the encoder's, so that ``update(encoder, momentum=0.0)`` copies them; pass False for
    a provider that does not track the encoder (only ``momentum=1.0`` is then checked).
    """
    who = _who("target provider", target, name)
    _require(isinstance(target, nn.Module), f"{who}: must be a torch.nn.Module, got {type(target).__name__}")
    enc_ids = {id(p) for p in encoder.parameters()}
    enc_ptrs = {p.data_ptr() for p in encoder.parameters() if p.numel()}
    shared = [n for n, p in target.named_parameters() if id(p) in enc_ids or (p.numel() and p.data_ptr() in enc_ptrs)]
    _require(
        not shared,
        f"{who}: shares parameters with the context encoder ({shared[:3]}); it must hold its own copy, or the "
        "optimizer step would move the targets too",
    )
    b, m, nt = masks.targets.shape
    dim = _embed_dim(encoder, who)
    provider: Any = copy.deepcopy(target)  # a TargetProvider module; its methods are checked here
    with torch.enable_grad():
        y = _call(who, "targets(x, target_idx)", provider.targets, example_input, masks.targets)
    _check_tensor(y, (b * m, nt, dim), who, "targets(x, target_idx) ([B*M, Nt, encoder embed_dim])")
    _require(not y.requires_grad, f"{who}: targets require grad; compute them under torch.no_grad()")
    if b > 1:
        provider.eval()  # no drop-path noise in the comparison
        both = provider.targets(example_input, masks.targets)
        last = provider.targets(example_input[-1:], masks.targets[-1:])
        _require(
            torch.allclose(both[(b - 1) * m :], last, atol=_ATOL, rtol=_RTOL),
            f"{who}: rows {(b - 1) * m}..{b * m - 1} are not sample {b - 1}'s targets; targets must be "
            "[B*M, Nt, D] sample-major (row b*M + m) and computed per sample",
        )

    provider, context = copy.deepcopy((target, encoder))
    params = list(provider.named_parameters())
    before = [p.detach().clone() for _, p in params]
    _perturb_state(context, seed=2)  # make the encoder differ from the targets
    _call(who, "update(encoder, momentum=1.0)", provider.update, context, 1.0)
    changed = [n for (n, p), old in zip(params, before, strict=True) if not torch.equal(p.detach(), old)]
    _require(
        not changed, f"{who}: update(encoder, momentum=1.0) changed target parameters {changed[:3]}; it must keep them"
    )
    if not params:
        _call(who, "update(encoder, momentum=0.0)", provider.update, context, 0.0)
        return
    if follows_encoder:
        enc_params = list(context.parameters())
        _require(
            len(enc_params) == len(params)
            and all(p.shape == e.shape for (_, p), e in zip(params, enc_params, strict=True)),
            f"{who}: its {len(params)} parameters do not mirror the encoder's {len(enc_params)} (in order and "
            "shape); an EMA-style provider must, or pass follows_encoder=False",
        )
        _call(who, "update(encoder, momentum=0.0)", provider.update, context, 0.0)
        differ = [n for (n, p), e in zip(params, enc_params, strict=True) if not torch.allclose(p.detach(), e.detach())]
        _require(
            not differ,
            f"{who}: update(encoder, momentum=0.0) must make the target parameters equal the encoder's; "
            f"{differ[:3]} differ",
        )


# --------------------------------------------------------------------------- loss
def check_loss(
    loss: Loss,
    shape: Sequence[int] = (6, 5, 8),
    *,
    name: str | None = None,
    minimum: float = 0.0,
) -> None:
    """Check a loss on random ``[B*M, Nt, D]``-shaped inputs; ``minimum`` is its value on equal inputs."""
    who = _who("loss", loss, name)
    g = _generator(0)
    preds, targets = torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)
    p0, t0 = preds.clone(), targets.clone()
    value = _call(who, "loss(predictions, targets)", loss, preds, targets)
    _require(isinstance(value, torch.Tensor), f"{who}: must return a torch.Tensor, got {type(value).__name__}")
    _require(value.ndim == 0, f"{who}: must return a scalar (0-dim tensor), got shape {tuple(value.shape)}")
    _require(value.is_floating_point(), f"{who}: must return a floating-point scalar, got {value.dtype}")
    _require(bool(torch.isfinite(value)), f"{who}: returned a non-finite value {float(value)}")
    _require(torch.equal(preds, p0) and torch.equal(targets, t0), f"{who}: modified its inputs in place")
    same = float(_call(who, "loss(x, x)", loss, targets.clone(), targets))
    _require(
        abs(same - minimum) <= 1e-6,
        f"{who}: must be {minimum} (its minimum) for identical predictions and targets, got {same:.6g}",
    )
    _require(
        float(value) > minimum,
        f"{who}: must be positive (above its minimum {minimum}) for different inputs, got {float(value):.6g}",
    )
    leaf = preds.clone().requires_grad_(True)
    out = _call(who, "loss(predictions, targets)", loss, leaf, targets)
    _require(out.requires_grad, f"{who}: is not differentiable w.r.t. the predictions (result has no grad_fn)")
    out.backward()
    _require(
        leaf.grad is not None and bool(torch.isfinite(leaf.grad).all()) and bool(leaf.grad.abs().sum() > 0),
        f"{who}: gives no finite, non-zero gradient w.r.t. the predictions",
    )


# -------------------------------------------------------------------- regulariser
def check_regularizer(
    regularizer: Regularizer,
    *,
    name: str | None = None,
    num_samples: int = 512,
    dim: int = 16,
) -> None:
    """Check a regulariser (:mod:`jepa_core.regularizers`) on ``[num_samples, dim]`` embeddings.

    It must return a finite scalar, differentiable with a finite non-zero gradient on spread
    samples, leave its input alone and the global RNG untouched, give the same value twice for
    the same step, and be clearly larger for a collapsed batch (every sample equal, or all on
    one direction) than for samples of an isotropic standard normal. ``weight`` must be a finite
    number >= 0 and ``apply_to`` one of ``pooled``, ``tokens``, ``both``.

    >>> check_regularizer(SIGReg(SIGRegConfig(num_slices=64)))         # doctest: +SKIP
    """
    from jepa_core.regularizers import APPLY_TO, is_active

    who = _who("regularizer", regularizer, name)
    weight = getattr(regularizer, "weight", None)
    _require(
        isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0,
        f"{who}: needs a 'weight' that is a finite number >= 0, got {weight!r}",
    )
    _require(
        getattr(regularizer, "apply_to", None) in APPLY_TO,
        f"{who}: 'apply_to' must be one of {', '.join(APPLY_TO)}, got {getattr(regularizer, 'apply_to', None)!r}",
    )
    if not is_active(regularizer):
        return  # 'none' or weight 0: never called by the trainer
    g = _generator(0)
    normal = torch.randn(num_samples, dim, generator=g)
    kept = normal.clone()
    state = torch.get_rng_state()
    spread = _call(who, "reg(normal samples, step=0)", regularizer, normal, step=0)
    _require(torch.equal(state, torch.get_rng_state()), f"{who}: draws from the global RNG (use a seeded generator)")
    _require(
        isinstance(spread, torch.Tensor) and spread.ndim == 0 and spread.is_floating_point(),
        f"{who}: must return a floating-point scalar tensor, got {_shape(spread)}",
    )
    _require(bool(torch.isfinite(spread)), f"{who}: returned a non-finite value {float(spread)} for normal samples")
    _require(torch.equal(normal, kept), f"{who}: modified its input in place")
    again = _call(who, "reg(normal samples, step=0) again", regularizer, normal, step=0)
    _require(torch.equal(spread, again), f"{who}: gives different values for the same samples and step")
    collapsed = {
        "identical samples": normal[:1].expand(num_samples, dim).clone(),
        "samples on one direction": torch.randn(num_samples, 1, generator=g) * torch.ones(1, dim),
    }
    for what, z in collapsed.items():
        value = float(_call(who, f"reg({what}, step=0)", regularizer, z, step=0))
        _require(
            math.isfinite(value) and value > 2 * float(spread) + 1e-3,
            f"{who}: must be clearly larger for {what} (collapse) than for normal samples; "
            f"got {value:.4g} vs {float(spread):.4g}",
        )
    leaf = normal.clone().requires_grad_(True)
    out = _call(who, "reg(samples) for a gradient", regularizer, leaf * 0.3, step=1)
    _require(out.requires_grad, f"{who}: is not differentiable w.r.t. the embeddings (result has no grad_fn)")
    out.backward()
    _require(
        leaf.grad is not None and bool(torch.isfinite(leaf.grad).all()) and bool(leaf.grad.abs().sum() > 0),
        f"{who}: gives no finite, non-zero gradient w.r.t. the embeddings",
    )


# ------------------------------------------------------------------------ dataset
def check_dataset(dataset: Any, *, name: str | None = None) -> None:
    """Check one built dataset: non-empty, items ``(tensor, int label >= -1)`` of one shape."""
    who = _who("dataset", dataset, name)
    size = _call(who, "len(dataset)", len, dataset)
    _require(size > 0, f"{who}: is empty (len 0)")
    shapes = {}
    for i in sorted({0, 1, size - 1} & set(range(size))):
        item = _call(who, f"dataset[{i}]", dataset.__getitem__, i)
        _require(
            isinstance(item, (tuple, list)) and len(item) == 2,
            f"{who}: item {i} must be an (input, label) pair, got {type(item).__name__}",
        )
        x, y = item
        _require(
            isinstance(x, torch.Tensor), f"{who}: the input of item {i} must be a torch.Tensor, got {type(x).__name__}"
        )
        label_ok = (isinstance(y, numbers.Integral) and not isinstance(y, bool)) or (
            isinstance(y, torch.Tensor) and y.ndim == 0 and not y.is_floating_point() and y.dtype != torch.bool
        )
        _require(label_ok, f"{who}: the label of item {i} must be an int (-1 without labels), got {y!r}")
        _require(int(y) >= -1, f"{who}: the label of item {i} must be >= -1, got {int(y)}")
        if x.is_floating_point():
            _require(bool(torch.isfinite(x).all()), f"{who}: the input of item {i} holds non-finite values")
        shapes[i] = tuple(x.shape)
    _require(len(set(shapes.values())) == 1, f"{who}: items have different input shapes {shapes}; they must stack")


def check_dataset_splits(
    spec: ComponentSpec, options: Any, *, splits: Iterable[str] = SPLITS, name: str | None = None
) -> None:
    """Build ``spec`` with ``options`` for every split and :func:`check_dataset` each."""
    who = name if name is not None else f"dataset '{spec.name}'"
    for split in splits:
        ds = _call(who, f"build(options, {split!r})", spec.build, options, split)
        check_dataset(ds, name=f"{who} split '{split}'")


def check_folder_dataset(registry: Registry, plugin: str) -> None:
    """Check the folder dataset ``plugin`` names (hook ``jepa_folder_dataset``), if it names one:
    a registered dataset with ``root`` and ``val_root`` options, which ``jepa eval --train/--val``
    sets.

    >>> check_folder_dataset(build_registry(), "image")        # doctest: +SKIP
    """
    spec = registry.folder_dataset(plugin)
    if spec is None:
        return
    who = f"plugin '{plugin}': its folder dataset '{spec.dataset}'"
    registered = registry.names("dataset")
    _require(
        normalize_name(spec.dataset) in registered,
        f"{who} is not a registered dataset; registered: {', '.join(registered) or 'none'}",
    )
    options = {f.name for f in attrs.fields(registry.get("dataset", spec.dataset).config_type)}
    missing = [name for name in ("root", "val_root") if name not in options]
    _require(not missing, f"{who} has no {' or '.join(missing)} option (jepa eval --train/--val sets both)")


# ------------------------------------------------------------------------- preset
def check_preset(
    registry: Registry,
    plugin: str,
    preset: str,
    overrides: Sequence[str] | Callable[[Any], Sequence[str]] = (),
    *,
    batch_size: int = 2,
    device: str = "cpu",
) -> Any:
    """Build ``plugin/preset`` with ``overrides`` and run ONE trainer step; returns its StepOutput.

    ``overrides`` are ``key=value`` strings (as ``--set``), or a function of the preset's config
    returning them, to shrink big presets (e.g. ``["encoder.depth=1", "encoder.img_size=140"]``).
    Inputs are random: ``torch.randn`` of ``encoder.expected_input_shape`` when the encoder has
    it (the dataset is then never built, so no data files are needed), else the shape of the
    dataset's first training sample; multi-view samples (a tuple of views) follow the data options'
    ``view_shapes()`` when they have one, else the dataset's first sample. Masks come from the
    preset's own masker through the loader's collate. No parallelism wrapping (DDP/FSDP/compile)
    is applied. Checked: the loss, gradient norm and weights are finite; at EMA momentum 1.0 the
    target does not move.
    Runs under a forked RNG, so the caller's global RNG state is left alone.
    """
    from jepa_core.build import build_dataset, build_parts, first_readable_sample
    from jepa_core.config import apply_overrides
    from jepa_core.data import MaskCollator
    from jepa_core.nonfinite import nonfinite_parameters
    from jepa_core.schedules import Schedules
    from jepa_core.trainer import Trainer

    who = f"preset '{plugin}/{preset}'"
    cfg = _call(who, "build()", lambda: registry.preset(plugin, preset).build())
    extra = list(overrides(cfg) if callable(overrides) else overrides)
    cfg = _call(who, f"applying overrides {extra}", apply_overrides, cfg, extra, registry)
    with torch.random.fork_rng(devices=[]):
        parts = _call(who, "building its parts", build_parts, cfg, registry)
        grid = tuple(parts.encoder.token_grid)
        shape = getattr(parts.encoder, "expected_input_shape", None)
        view_shapes = getattr(cfg.data.options, "view_shapes", None)  # data options describing multi-view samples
        views = view_shapes() if callable(view_shapes) else None
        if shape is None and views is None:
            dataset = _call(who, "building its train dataset", build_dataset, cfg, registry, "train")
            sample = first_readable_sample(dataset, cfg.train.seed)
            if isinstance(sample, (tuple, list)):
                views = [tuple(v.shape) for v in sample]
            else:
                shape = tuple(sample.shape)
        g = _generator(cfg.train.seed)
        items: list[tuple[Any, ...]]
        if views is not None:
            items = [(tuple(torch.randn(*v, generator=g) for v in views), 0, (0, 0, 0), ()) for _ in range(batch_size)]
        else:
            assert shape is not None  # set above whenever there are no views
            items = [(torch.randn(*shape, generator=g), 0, (0, 0, 0), ()) for _ in range(batch_size)]
        collate = MaskCollator(parts.masker, grid, cfg.train.seed)
        batch = _call(who, f"collating a batch (its masker on grid {grid})", collate, items)
        schedules = Schedules.from_config(cfg.optim, epochs=cfg.train.epochs, iterations_per_epoch=1)
        trainer = _call(
            who,
            "building the Trainer",
            Trainer.from_parts,
            parts,
            cfg,
            schedules=schedules,
            device=device,
        )
        before = [p.detach().clone() for p in parts.target.parameters()]
        out = _call(who, "Trainer.train_step", trainer.train_step, batch)
    _require(bool(torch.isfinite(out.loss)), f"{who}: the training step's loss is not finite ({float(out.loss)})")
    _require(bool(torch.isfinite(out.grad_norm)), f"{who}: the training step's gradient norm is not finite")
    bad = nonfinite_parameters(trainer.networks())
    _require(not bad, f"{who}: non-finite weights after one step: {bad[:3]}")
    if out.momentum == 1.0:
        moved = any(not torch.equal(p.detach(), old) for p, old in zip(parts.target.parameters(), before, strict=True))
        _require(not moved, f"{who}: the target moved although the EMA momentum was 1.0")
    return out


# -------------------------------------------------------------------------- cases
def _skip(reason: str) -> NoReturn:
    if "pytest" in sys.modules:
        import pytest

        pytest.skip(reason)
    raise unittest.SkipTest(reason)


@attrs.frozen
class ConformanceCase:
    """One component (paired with one encoder for predictors/targets) to check; ``run()`` does it.

    ``skip_reason`` is set when there is nothing cheap to check it with; ``run()`` then skips
    (``pytest.skip`` under pytest, else ``unittest.SkipTest``).
    """

    kind: str
    name: str
    plugin: str
    check: Callable[[], None] | None = attrs.field(default=None, repr=False, eq=False)
    skip_reason: str | None = None
    encoder: str | None = None

    @property
    def id(self) -> str:
        base = f"{self.kind}:{self.name}"
        return f"{base}[{self.encoder}]" if self.encoder else base

    def __str__(self) -> str:
        return self.id

    def run(self) -> None:
        if self.skip_reason is not None or self.check is None:
            _skip(f"{self.id} (plugin '{self.plugin}'): {self.skip_reason}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)  # component init is reproducible and leaves the global RNG alone
            self.check()


def _options(spec: ComponentSpec, example: Example, label: str) -> Any:
    _require(
        isinstance(example.options, spec.config_type),
        f"{label}: its example returns {type(example.options).__name__}, "
        f"not a {spec.config_type.__name__} options record",
    )
    return example.options


def conformance_cases(
    registry: Registry, *, plugins: Iterable[str] | None = None, batch_size: int = 2
) -> list[ConformanceCase]:
    """Every registered component (of ``plugins``, default all) as a :class:`ConformanceCase`.

    Options come from each spec's ``example`` (:class:`~jepa_core.specs.Example`). Without one,
    losses and target providers use their default options; other kinds are skipped with a
    reason. Predictors and target providers are paired with their example's ``encoder``, or
    with every encoder that has an example. Encoder inputs follow :func:`example_input`.
    """
    wanted = None if plugins is None else {normalize_name(p) for p in plugins}
    examples: _Examples = {}
    for kind in KIND_ORDER:
        for name in registry.names(kind):
            spec = registry.get(kind, name)
            try:
                examples[(kind, name)] = (resolve_example(spec), None)
            except Exception as err:  # reported when the case runs, not at collection
                examples[(kind, name)] = (None, f"{type(err).__name__}: {err}")
    encoders = [n for n in registry.names("encoder") if examples[("encoder", n)][0] is not None]

    def label(kind: str, name: str, plugin: str) -> str:
        return f"{kind} '{name}' (plugin '{plugin}')"

    def build_encoder(name: str) -> tuple[nn.Module, torch.Tensor]:
        spec = registry.get("encoder", name)
        ex = examples[("encoder", name)][0]
        assert ex is not None  # only encoders with an example are built
        who = label("encoder", name, registry.provider_of("encoder", name).name)
        enc = _call(who, "build(example options)", spec.build, _options(spec, ex, who))
        return enc, example_input(enc, batch_size, input_shape=ex.input_shape, name=who)

    cases: list[ConformanceCase] = []
    for kind in KIND_ORDER:
        for name in registry.names(kind):
            spec = registry.get(kind, name)
            plugin = registry.provider_of(kind, name).name
            if wanted is not None and plugin not in wanted:
                continue
            who = label(kind, name, plugin)
            if spec.placeholder:
                cases.append(
                    ConformanceCase(kind, name, plugin, skip_reason="a placeholder ('none'): nothing to check")
                )
                continue
            ex, error = examples[(kind, name)]
            if error is not None:

                def fail(who: str = who, error: str = error) -> None:
                    raise AssertionError(f"{who}: its example raised {error}")

                cases.append(ConformanceCase(kind, name, plugin, fail))
                continue
            if ex is None and kind in DEFAULT_OK:
                ex = Example(options=spec.config_type())
            if ex is None:
                cases.append(
                    ConformanceCase(kind, name, plugin, skip_reason="its spec gives no example (small options)")
                )
                continue
            cases.extend(
                _cases_for(kind, name, plugin, spec, ex, who, registry, encoders, examples, build_encoder, batch_size)
            )
    return cases


def _cases_for(
    kind: str,
    name: str,
    plugin: str,
    spec: ComponentSpec,
    ex: Example,
    who: str,
    registry: Registry,
    encoders: list[str],
    examples: _Examples,
    build_encoder: Callable[[str], tuple[nn.Module, torch.Tensor]],
    batch_size: int,
) -> list[ConformanceCase]:
    if kind == "encoder":

        def run_encoder() -> None:
            enc, x = build_encoder(name)
            check_encoder(enc, x, name=who)

        return [ConformanceCase(kind, name, plugin, run_encoder)]
    if kind == "masker":
        grid = ex.grid
        if grid is None:
            return [ConformanceCase(kind, name, plugin, skip_reason="its example gives no grid (Example(grid=...))")]

        def run_masker() -> None:
            masker = _call(who, "build(example options)", spec.build, _options(spec, ex, who))
            check_masker(masker, grid, name=who)

        return [ConformanceCase(kind, name, plugin, run_masker)]
    if kind == "loss":

        def run_loss() -> None:
            check_loss(_call(who, "build(example options)", spec.build, _options(spec, ex, who)), name=who)

        return [ConformanceCase(kind, name, plugin, run_loss)]
    if kind == "objective":

        def run_objective() -> None:
            from jepa_core.objective_checks import KitEncoder

            objective = _call(who, "build(example options, encoder)", spec.build, _options(spec, ex, who), KitEncoder())
            check_objective(objective, name=who, processes=2)

        return [ConformanceCase(kind, name, plugin, run_objective)]
    if kind == "regularizer":

        def run_regularizer() -> None:
            reg = _call(who, "build(example options)", spec.build, _options(spec, ex, who))
            check_regularizer(reg, name=who)

        return [ConformanceCase(kind, name, plugin, run_regularizer)]
    if kind == "dataset":

        def run_dataset() -> None:
            check_dataset_splits(spec, _options(spec, ex, who), name=who)

        return [ConformanceCase(kind, name, plugin, run_dataset)]

    # predictor / target: paired with encoders
    if ex.encoder is not None:
        enc_name = normalize_name(ex.encoder)
        if enc_name not in registry.names("encoder"):
            return [
                ConformanceCase(
                    kind,
                    name,
                    plugin,
                    encoder=enc_name,
                    skip_reason=f"its paired encoder '{ex.encoder}' is not registered",
                )
            ]
        if examples[("encoder", enc_name)][0] is None:
            return [
                ConformanceCase(
                    kind,
                    name,
                    plugin,
                    encoder=enc_name,
                    skip_reason=f"its paired encoder '{enc_name}' has no usable example",
                )
            ]
        pairs = [enc_name]
    else:
        pairs = encoders
        if not pairs:
            return [
                ConformanceCase(kind, name, plugin, skip_reason="no registered encoder has an example to pair with")
            ]
    out = []
    for enc_name in pairs:
        paired = f"{who} with encoder '{enc_name}'"

        def run_paired(enc_name: str = enc_name, paired: str = paired) -> None:
            enc, x = build_encoder(enc_name)
            part = _call(paired, "build(example options, encoder)", spec.build, _options(spec, ex, paired), enc)
            masks = random_masks(batch_size, token_grid(enc), _generator(0))
            if kind == "predictor":
                check_predictor(part, enc, x, masks, name=paired)
            else:
                check_target_provider(part, enc, x, masks, name=paired, follows_encoder=getattr(spec, "probed", True))

        out.append(ConformanceCase(kind, name, plugin, run_paired, encoder=enc_name))
    return out
