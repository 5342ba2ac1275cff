"""Conformance checks for objectives (part of the kit: :func:`jepa_core.testing.check_objective`).

An objective is checked on the kit's own tiny networks over a 1-D token grid (an encoder, a
predictor, an EMA target and the ``l2`` loss), so any modality-agnostic objective can be checked
without a plugin's encoder. Its masks: random context/target sets when the objective uses a
predictor, else token views (:mod:`jepa_core.views`); ``masks="views"``/``"sets"`` chooses.

Checked: the loss is a finite scalar and the ``loss`` entry of a dict of finite scalars;
gradients reach every trained parameter (the encoder, the predictor when used, the objective's
head); two calls under the same seed agree and leave the global RNG alone; and, with
``processes=2``, two gloo processes holding half the batch each (DDP over the trainable path)
produce the same parameter gradients as one process with the whole batch::

    check_objective(LeJEPAObjective(LeJEPAConfig(proj_hidden_dim=32), KitEncoder()), processes=2)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jepa_core.data import Batch, Inputs
from jepa_core.dist import worker_process_group
from jepa_core.interfaces import MaskSet, TokenViews, gather_tokens, mask_sets
from jepa_core.losses import L2Loss
from jepa_core.masking import random_masks
from jepa_core.objectives import Networks, Objective
from jepa_core.regularizers import Regularizer
from jepa_core.specs import resolve_example
from jepa_core.targets import EMATargetProvider
from jepa_core.views import TokenViewsConfig, TokenViewsMasker

KIT_GRID = (16,)
KIT_DIM = 16


class KitEncoder(nn.Module):
    """A tiny transformer over ``[B, 16, 4]`` inputs (16 tokens of 4 values), no dropout."""

    def __init__(self, dim: int = KIT_DIM) -> None:
        super().__init__()
        self.token_grid, self.embed_dim = KIT_GRID, dim
        self.expected_input_shape = (KIT_GRID[0], 4)
        self.embed = nn.Linear(4, dim)
        self.pos = nn.Parameter(torch.randn(1, KIT_GRID[0], dim) * 0.02)
        self.block = nn.TransformerEncoderLayer(dim, 2, 2 * dim, dropout=0.0, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.embed(x) + self.pos  # [B, N, D]
        if keep is not None:
            tokens = gather_tokens(tokens, keep)
        return self.norm(self.block(tokens))


class KitPredictor(nn.Module):
    """A tiny predictor for :class:`KitEncoder`: context tokens plus positional queries, one layer."""

    def __init__(self, dim: int = KIT_DIM) -> None:
        super().__init__()
        self.pos = nn.Parameter(torch.randn(1, KIT_GRID[0], dim) * 0.02)
        self.query = nn.Parameter(torch.zeros(1, 1, dim))
        self.block = nn.TransformerEncoderLayer(dim, 2, 2 * dim, dropout=0.0, batch_first=True)

    def forward(self, ctx: torch.Tensor, ctx_idx: torch.Tensor, tgt_idx: torch.Tensor) -> torch.Tensor:
        b, m, nt = tgt_idx.shape
        pos = self.pos.expand(b, -1, -1)
        z = (ctx + gather_tokens(pos, ctx_idx)).repeat_interleave(m, dim=0)  # [B*M, Nc, D]
        q = self.query + gather_tokens(pos.repeat_interleave(m, dim=0), tgt_idx.reshape(b * m, nt))
        return self.block(torch.cat([z, q], dim=1))[:, -nt:]  # [B*M, Nt, D]


def kit_batch(kind: str, batch_size: int = 8, seed: int = 0) -> Batch:
    """A random batch on the kit's grid with ``kind`` ``"sets"`` (one context/target MaskSet, the
    same context length for every sample) or ``"views"`` (2 global + 2 local token views)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, KIT_GRID[0], 4, generator=g)
    if kind == "sets":
        masks: Any = random_masks(batch_size, KIT_GRID, g)
    elif kind == "views":
        masks = TokenViewsMasker(TokenViewsConfig())(batch_size, KIT_GRID, g)
    else:
        raise ValueError(f"kind must be 'sets' or 'views', got {kind!r}")
    return Batch(x, masks, torch.arange(batch_size) % 2)


def split_batch(batch: Batch, parts: int) -> list[Batch]:
    """``batch`` cut into ``parts`` equal row blocks (inputs, masks and labels alike)."""

    def cut(t: torch.Tensor) -> list[torch.Tensor]:
        return list(t.chunk(parts))

    inputs: list[Inputs]
    if isinstance(batch.inputs, tuple):
        inputs = [tuple(views) for views in zip(*(cut(v) for v in batch.inputs), strict=True)]
    else:
        inputs = list(cut(batch.inputs))
    if batch.masks is None:
        masks: list[Any] = [None] * parts
    elif isinstance(batch.masks, TokenViews):
        keeps = list(zip(*(cut(k) for k in batch.masks.keep), strict=True))
        masks = [TokenViews(tuple(k), batch.masks.num_global) for k in keeps]
    else:
        sets = [list(zip(cut(m.context), cut(m.targets), strict=True)) for m in mask_sets(batch.masks)]
        per_part = [[MaskSet(*s[i]) for s in sets] for i in range(parts)]
        masks = [p[0] if isinstance(batch.masks, MaskSet) else tuple(p) for p in per_part]
    return [Batch(i, m, lab) for i, m, lab in zip(inputs, masks, cut(batch.labels), strict=True)]


def _require(condition: Any, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _assemble(
    objective: Objective, regularizer: Regularizer | None = None
) -> tuple[nn.Module, Networks, list[tuple[str, nn.Parameter]]]:
    torch.manual_seed(0)
    encoder, predictor = KitEncoder(), KitPredictor()
    nets = Networks(EMATargetProvider(encoder), L2Loss(), regularizer)
    path = objective.trainable_path(encoder, predictor, nets)
    trained = [(n, p) for n, p in path.named_parameters() if p.requires_grad]
    return path, nets, trained


def _loss(objective: Objective, path: nn.Module, nets: Networks, batch: Batch, who: str) -> torch.Tensor:
    try:
        parts = objective.loss_parts(path, batch, nets, step=3)
    except AssertionError:
        raise
    except Exception as err:  # component code failing is a conformance failure
        raise AssertionError(f"{who}: loss_parts raised {type(err).__name__}: {err}") from err
    _require(isinstance(parts, dict) and "loss" in parts, f"{who}: loss_parts must return a dict with a 'loss' entry")
    for key, value in parts.items():
        _require(
            isinstance(value, torch.Tensor) and value.ndim == 0,
            f"{who}: loss part '{key}' must be a scalar tensor, got {getattr(value, 'shape', type(value).__name__)}",
        )
        if not bool(torch.isfinite(value)):
            raise AssertionError(f"{who}: loss part '{key}' is not finite ({value.item()})")
    return parts["loss"]


def _grads(trained: list[tuple[str, nn.Parameter]]) -> dict[str, torch.Tensor | None]:
    return {n: (p.grad.detach().clone() if p.grad is not None else None) for n, p in trained}


def check_objective(
    objective: Objective,
    *,
    name: str | None = None,
    masks: str | None = None,
    processes: int = 1,
    regularizer: Regularizer | None = None,
) -> None:
    """Check ``objective`` (see the module docstring); ``masks`` ``"sets"``/``"views"`` overrides
    the default choice; ``processes=2`` adds the two-process comparison (a few seconds);
    ``regularizer`` runs the checks with that regulariser in the networks."""
    who = name or f"objective {type(objective).__qualname__}"
    kind = masks or ("sets" if _uses_predictor(objective) else "views")
    path, nets, trained = _assemble(objective, regularizer)
    for _, p in trained:
        p.grad = None
    batch = kit_batch(kind)
    state = torch.get_rng_state()
    loss = _loss(objective, path, nets, batch, who)
    _require(
        torch.equal(state, torch.get_rng_state()),
        f"{who}: draws from the global RNG (use a generator seeded by the step)",
    )
    again = _loss(objective, path, nets, batch, who)
    _require(torch.equal(loss, again), f"{who}: gives different losses for the same batch, networks and step")
    loss.backward()
    grads = _grads(trained)
    for _, p in trained:
        p.grad = None
    missing = sorted(n for n, g in grads.items() if g is None or not bool(torch.isfinite(g).all()))
    _require(not missing, f"{who}: no finite gradient reaches trained parameters {missing[:5]}")
    present = {n: g for n, g in grads.items() if g is not None}  # all of them (checked above)
    _require(any(bool(g.abs().sum() > 0) for g in present.values()), f"{who}: every gradient is zero")
    if processes > 1:
        _check_processes(objective, kind, present, processes, who, regularizer)


def _uses_predictor(objective: Objective) -> bool:
    """Whether the objective's trainable path holds the predictor (context/target masks then)."""
    path, _, _ = _assemble(objective)
    return any(isinstance(m, KitPredictor) for m in path.modules())


def _check_processes(
    objective: Objective,
    kind: str,
    expected: dict[str, torch.Tensor],
    processes: int,
    who: str,
    regularizer: Regularizer | None = None,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.pt"
        try:
            torch.save({"objective": objective, "kind": kind, "processes": processes, "regularizer": regularizer}, job)
        except Exception as err:  # pickling third-party objects
            raise AssertionError(f"{who}: must be picklable for the multi-process check ({err})") from err
        torch.multiprocessing.spawn(_rank_worker, args=(tmp, processes), nprocs=processes, join=True)
        for rank in range(processes):
            got = torch.load(Path(tmp) / f"grads{rank}.pt")
            for n, g in expected.items():
                _require(
                    got[n] is not None and torch.allclose(got[n], g, rtol=1e-4, atol=1e-6),
                    f"{who}: {processes} processes with a share of the batch each give other gradients than one "
                    f"process with the whole batch (parameter '{n}', rank {rank}); gather batch statistics",
                )


def _rank_worker(rank: int, tmp: str, processes: int) -> None:
    from torch.nn.parallel import DistributedDataParallel

    job = torch.load(Path(tmp) / "job.pt", weights_only=False)  # written by the parent just now
    store = f"file://{os.path.join(tmp, 'store')}"
    with worker_process_group("gloo", init_method=store, rank=rank, world_size=processes):
        objective = job["objective"]
        path, nets, trained = _assemble(objective, job["regularizer"])
        ddp = DistributedDataParallel(path)
        batch = split_batch(kit_batch(job["kind"]), processes)[rank]
        objective.loss_parts(ddp, batch, nets, step=3)["loss"].backward()
        torch.save(_grads(trained), Path(tmp) / f"grads{rank}.pt")
        torch.distributed.barrier()  # no rank tears gloo down while another still communicates


def conformance_objective_example(spec: Any) -> Any:
    """Build ``spec``'s objective from its example options on a :class:`KitEncoder`."""
    example = resolve_example(spec)
    options = example.options if example is not None else spec.config_type()
    return spec.build(options, KitEncoder())


__all__ = ["KitEncoder", "KitPredictor", "check_objective", "kit_batch", "split_batch"]
