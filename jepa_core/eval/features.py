"""Batched feature extraction from a frozen encoder, with the pooling schemes of the probes.

Example::

    feats, labels = extract_features(encoder, dataset, batch_size=128)   # feats [N, D], average-pooled
    feats, _ = extract_features(encoder, dataset, pool="last4")          # [N, 4 * D]

Pools (:data:`POOLS`):

* ``mean``: the average of the encoder's output tokens (the paper's probe features);
* ``last4``: the outputs of the last 4 blocks, each passed through the encoder's final ``norm``
  (when it has one) and averaged over tokens, concatenated in block order -> ``[B, 4 * D]``.
  Works for any encoder exposing its blocks as ``encoder.blocks`` (an ``nn.ModuleList`` or
  ``nn.Sequential``): the outputs are caught with forward hooks, the encoder is untouched;
* ``none``: all tokens ``[B, N, D]``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from jepa_core.errors import ConfigError

POOLS: tuple[str, ...] = ("mean", "last4", "none")
LAST_N = 4


def check_pool(pool: str) -> str:
    """Return ``pool`` if it is one of :data:`POOLS`, else raise :class:`ConfigError`."""
    if pool not in POOLS:
        raise ConfigError(f"unknown pooling '{pool}'; valid poolings: {', '.join(POOLS)}.")
    return pool


def encoder_blocks(encoder: nn.Module, n: int = LAST_N) -> list[nn.Module]:
    """The last ``n`` modules of ``encoder.blocks``; ConfigError when there are none or too few."""
    blocks = getattr(encoder, "blocks", None)
    if not isinstance(blocks, (nn.ModuleList, nn.Sequential)):
        raise ConfigError(
            f"pooling 'last{n}' needs an encoder exposing its blocks as an nn.ModuleList 'blocks', "
            f"but {type(encoder).__name__} has {type(blocks).__name__ if blocks is not None else 'no blocks'}."
        )
    if len(blocks) < n:
        raise ConfigError(
            f"pooling 'last{n}' needs an encoder with at least {n} blocks, but {type(encoder).__name__} "
            f"has {len(blocks)}; use pooling 'mean'."
        )
    return list(blocks)[-n:]


def last_blocks_features(encoder: nn.Module, x: torch.Tensor, n: int = LAST_N) -> torch.Tensor:
    """Concatenated token-averages of the last ``n`` block outputs (each normed) -> ``[B, n * D]``.

    >>> last_blocks_features(vit, torch.randn(2, 3, 32, 32)).shape      # doctest: +SKIP
    torch.Size([2, 768])
    """
    caught: dict[int, torch.Tensor] = {}

    def catch(i: int):
        def hook(_module: nn.Module, _inputs: object, output: Any) -> None:
            caught[i] = output[0] if isinstance(output, (tuple, list)) else output

        return hook

    handles = [block.register_forward_hook(catch(i)) for i, block in enumerate(encoder_blocks(encoder, n))]
    try:
        encoder(x)
    finally:
        for handle in handles:
            handle.remove()
    norm = getattr(encoder, "norm", None)
    norm = norm if isinstance(norm, nn.Module) else nn.Identity()
    return torch.cat([norm(caught[i]).mean(dim=1) for i in range(n)], dim=-1)


def encode(encoder: nn.Module, x: torch.Tensor, pool: str = "mean") -> torch.Tensor:
    """Features of one batch ``x`` with pooling ``pool`` (see the module docstring)."""
    check_pool(pool)
    if pool == "last4":
        return last_blocks_features(encoder, x, LAST_N)
    tokens = encoder(x)  # [B, N, D]
    return tokens.mean(dim=1) if pool == "mean" else tokens


@torch.no_grad()
def extract_features(
    encoder: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int = 128,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
    pool: str = "mean",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``[N, D]`` (``pool='last4'`` -> ``[N, 4D]``, ``'none'`` -> ``[N, T, D]``) and labels ``[N]``.

    The encoder is put in eval mode on ``device``; features come back as float32 on the CPU.
    """
    check_pool(pool)
    encoder = encoder.to(device).eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    feats, labels = [], []
    for x, y in loader:
        feats.append(encode(encoder, x.to(device), pool).float().cpu())
        labels.append(torch.as_tensor(y))
    return torch.cat(feats), torch.cat(labels).long()
