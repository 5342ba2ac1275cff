"""The five parts a JEPA is assembled from, as typed protocols.

A *token grid* is any N-d shape: ``(gh, gw)`` for images, ``(t, gh, gw)`` for video,
``(f, t)`` for spectrograms. Tokens are flattened in row-major order, so a token index is
an integer in ``[0, prod(grid))``. Index tensors are ``torch.long``.

Shapes used throughout (B = batch, M = target blocks per sample, Nc/Nt = context/target
tokens per sample, D = encoder width):

- context indices ``[B, Nc]``, target indices ``[B, M, Nt]``;
- encoder output ``[B, N_kept, D]``;
- predictions and targets ``[B * M, Nt, D]``, flattened sample-major (row ``b * M + m``).

Multi-mask training (V-JEPA's short- and long-range masks): a masker may return a TUPLE of
:class:`MaskSet` (one ``(context, targets)`` pair per mask configuration, each with its own
``Nc``/``M``/``Nt``); the context path runs once per set, the target encoder once for all sets
(when the provider has ``targets_many``), and the step's loss is the mean over the sets.

Example (a custom masker only needs a ``__call__`` with this signature)::

    class HalfMasker:
        def __call__(self, batch_size, grid, generator):
            n = math.prod(grid)
            perm = torch.stack([torch.randperm(n, generator=generator) for _ in range(batch_size)])
            return MaskSet(context=perm[:, : n // 2], targets=perm[:, None, n // 2 :])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import attrs
import torch
from torch import nn


@attrs.frozen
class MaskSet:
    """Index sets for one batch: ``context [B, Nc]`` and ``targets [B, M, Nt]`` (long)."""

    context: torch.Tensor
    targets: torch.Tensor

    @property
    def num_targets(self) -> int:
        return int(self.targets.shape[1])


@attrs.frozen
class TokenViews:
    """Views of one batch made by token dropping (LeVJEPA): ``keep[v]`` is ``[B, Nk_v]`` (long),
    the tokens view ``v`` keeps; the first ``num_global`` views are the global ones.

    >>> keep = (torch.zeros(2, 5, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
    >>> views = TokenViews(keep=keep, num_global=1)
    >>> views.num_views
    2
    """

    keep: tuple[torch.Tensor, ...]
    num_global: int

    @property
    def num_views(self) -> int:
        return len(self.keep)


Masks = MaskSet | tuple[MaskSet, ...] | TokenViews | None
"""What a masker returns: one :class:`MaskSet`, a tuple of them (multi-mask training),
:class:`TokenViews` (multi-view objectives), or ``None`` (the ``none`` masker: no masks)."""


def mask_sets(masks: Masks | Sequence[MaskSet]) -> tuple[MaskSet, ...]:
    """``masks`` as a non-empty tuple of :class:`MaskSet` (a single set becomes a 1-tuple).

    >>> len(mask_sets(MaskSet(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 1, 2, dtype=torch.long))))
    1
    """
    sets = (masks,) if isinstance(masks, MaskSet) else tuple(masks) if isinstance(masks, Sequence) else ()
    if not sets or not all(isinstance(m, MaskSet) for m in sets):
        raise TypeError(f"a masker must return a MaskSet or a non-empty tuple of MaskSets, got {type(masks).__name__}")
    return sets


def map_masks(masks: Masks, fn: Callable[[torch.Tensor], torch.Tensor]) -> Masks:
    """Apply ``fn`` to every index tensor, keeping the form (set, tuple, views or None)."""
    if masks is None:
        return None
    if isinstance(masks, TokenViews):
        return TokenViews(tuple(fn(k) for k in masks.keep), masks.num_global)
    moved = tuple(MaskSet(fn(m.context), fn(m.targets)) for m in mask_sets(masks))
    return moved[0] if isinstance(masks, MaskSet) else moved


@runtime_checkable
class Encoder(Protocol):
    """Maps an input batch to token features, optionally keeping only some tokens.

    ``forward(x, keep=None)`` returns ``[B, N, D]`` for all tokens, or ``[B, Nk, D]`` for the
    row-major token indices ``keep [B, Nk]``. ``token_grid`` is the grid the input is cut into,
    ``embed_dim`` is D.

    >>> encoder = registry.get("encoder", "vit").build(options)          # doctest: +SKIP
    >>> encoder(torch.randn(2, 3, 64, 64)).shape, encoder.token_grid      # doctest: +SKIP
    (torch.Size([2, 64, 128]), (8, 8))
    """

    embed_dim: int
    token_grid: tuple[int, ...]

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor: ...


def token_grid(encoder: nn.Module) -> tuple[int, ...]:
    """``encoder.token_grid`` (see :class:`Encoder`), as a tuple."""
    grid = getattr(encoder, "token_grid", None)
    if grid is None:
        raise AttributeError(f"{type(encoder).__name__} has no token_grid; every encoder needs one")
    return tuple(grid)


@runtime_checkable
class Predictor(Protocol):
    """Predicts target-token features from context features.

    ``forward(context_tokens [B, Nc, D], context_idx [B, Nc], target_idx [B, M, Nt])`` returns
    ``[B * M, Nt, D]``. A predictor may add a ``mask_index: int = 0`` parameter: in multi-mask
    training it then receives the index of the mask set it is predicting (V-JEPA learns one mask
    token per mask set).

    >>> predictor(encoder(x, keep=masks.context), masks.context, masks.targets).shape   # doctest: +SKIP
    torch.Size([8, 6, 128])
    """

    def forward(
        self, context_tokens: torch.Tensor, context_idx: torch.Tensor, target_idx: torch.Tensor
    ) -> torch.Tensor: ...


@runtime_checkable
class Masker(Protocol):
    """Samples context and target token indices for a batch; runs inside the DataLoader collate.

    ``masker(batch_size, grid, generator)`` returns a :class:`MaskSet`, or a tuple of them for
    multi-mask training (see the module docstring). It never sees the data. A masker may add a
    ``progress: float = 0.0`` parameter: the loader then passes the fraction of training done
    (0 -> 1), for mask curricula (A-JEPA moves from multi-block to time-frequency masks).

    >>> masks = masker(4, (8, 8), torch.Generator().manual_seed(0))     # doctest: +SKIP
    >>> masks.context.shape, masks.targets.shape                        # doctest: +SKIP
    (torch.Size([4, 40]), torch.Size([4, 4, 6]))
    """

    def __call__(self, batch_size: int, grid: tuple[int, ...], generator: torch.Generator) -> Masks: ...


@runtime_checkable
class TargetProvider(Protocol):
    """Produces regression targets ``[B * M, Nt, D]`` without gradient; updated after each step.

    ``update(context_encoder, momentum)`` is called after every optimizer step (an EMA provider
    moves its weights towards the context encoder's). Optional: ``targets_many(x, [target_idx,
    ...])`` returning one tensor per index set from a single encoder pass (multi-mask training
    calls ``targets`` once per set without it; see :func:`jepa_core.targets.targets_for`).

    >>> y = target.targets(x, masks.targets)           # [B * M, Nt, D], no gradient   # doctest: +SKIP
    >>> target.update(encoder, momentum=0.996)                                          # doctest: +SKIP
    """

    def targets(self, x: torch.Tensor, target_idx: torch.Tensor) -> torch.Tensor: ...

    def update(self, context_encoder: nn.Module, momentum: float) -> None: ...


@runtime_checkable
class Loss(Protocol):
    """``loss(predictions, targets)`` -> scalar tensor, both ``[B * M, Nt, D]``.

    >>> mse: Loss = lambda p, t: ((p - t) ** 2).mean()
    >>> float(mse(torch.ones(2, 3, 4), torch.zeros(2, 3, 4)))
    1.0
    """

    def __call__(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor: ...


def gather_tokens(tokens: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Gather tokens ``[B, N, D]`` at indices ``[B, K]`` -> ``[B, K, D]``.

    >>> gather_tokens(torch.arange(6.).view(1, 3, 2), torch.tensor([[2, 0]])).tolist()
    [[[4.0, 5.0], [0.0, 1.0]]]
    """
    return torch.gather(tokens, 1, idx.unsqueeze(-1).expand(-1, -1, tokens.shape[-1]))


def gather_target_blocks(tokens: torch.Tensor, target_idx: torch.Tensor) -> torch.Tensor:
    """Gather tokens ``[B, N, D]`` at target indices ``[B, M, Nt]`` -> ``[B * M, Nt, D]``."""
    b, m, nt = target_idx.shape
    flat = gather_tokens(tokens, target_idx.reshape(b, m * nt))  # [B, M*Nt, D]
    return flat.reshape(b * m, nt, tokens.shape[-1])
