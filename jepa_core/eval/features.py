"""Batched feature extraction from a frozen encoder.

>>> feats, labels = extract_features(encoder, dataset, batch_size=128)   # doctest: +SKIP
>>> feats.shape                                                           # [N, D] average-pooled
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


@torch.no_grad()
def extract_features(
    encoder: nn.Module, dataset: Dataset, *, batch_size: int = 128, device: torch.device | str = "cpu",
    num_workers: int = 0, pool: str = "mean",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features ``[N, D]`` (average over tokens, or ``pool='none'`` -> ``[N, T, D]``) and labels ``[N]``."""
    encoder = encoder.to(device).eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    feats, labels = [], []
    for x, y in loader:
        tokens = encoder(x.to(device))  # [B, N, D]
        feats.append((tokens.mean(dim=1) if pool == "mean" else tokens).float().cpu())
        labels.append(torch.as_tensor(y))
    return torch.cat(feats), torch.cat(labels).long()
