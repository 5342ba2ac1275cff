"""End-of-run collapse report: effective rank, LiDAR and feature spread of the trained encoders.

At the end of training the run measures, on a fixed seeded sample of the ``train_eval`` split
(labels not needed), the mean-pooled features of the evaluation encoder (the target encoder when
there is one), the context encoder, and the same architecture at its random init; it prints one
line and writes ``representation.json`` in the run directory::

    {"step": 320, "num_samples": 1024, "embed_dim": 128, "lidar_views": [256, 8, 0.5],
     "target": {"effective_rank": 5.1, "lidar": 3.2, "feature_spread": 0.62},
     "context": {...}, "random_init": {...}}

The statistics are :func:`~jepa_core.monitors.effective_rank` (RankMe, at most
``min(num_samples - 1, embed_dim)``), :func:`~jepa_core.monitors.lidar` and
:func:`~jepa_core.monitors.feature_spread` (about 1 for isotropic features, 0 for complete
collapse). LiDAR's views are token views, so it needs no augmentation of any modality: each of the
first :data:`LIDAR_SAMPLES` samples is encoded :data:`LIDAR_VIEWS` times, each time keeping a
random :data:`LIDAR_KEEP` of its tokens (the same token sets for every encoder), and each view's
kept tokens are mean-pooled.

>>> report = representation_report({"target": enc}, dataset, device="cpu")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from jepa_core.data import dataset_len
from jepa_core.interfaces import token_grid
from jepa_core.monitors import effective_rank, evaluating, feature_spread, lidar
from jepa_core.online_eval import SampleBatches, pooled

FILE_NAME = "representation.json"
NUM_SAMPLES = 1024
LIDAR_SAMPLES = 256
LIDAR_VIEWS = 8
LIDAR_KEEP = 0.5


def representation_report(
    encoders: Mapping[str, nn.Module],
    dataset: Dataset,
    *,
    device: torch.device | str = "cpu",
    num_samples: int = NUM_SAMPLES,
    seed: int = 0,
    batch_size: int = 256,
) -> dict[str, Any]:
    """``{"num_samples", "embed_dim", name: {"effective_rank", "feature_spread"}, ...}`` for each
    encoder, on the same seeded ``num_samples`` samples of ``dataset``; the global RNG is untouched."""
    device = torch.device(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        g = torch.Generator().manual_seed(seed)
        size = dataset_len(dataset)
        idx = torch.randperm(size, generator=g)[: min(num_samples, size)]
        samples = SampleBatches(Subset(dataset, idx.tolist()), batch_size)
        view_samples = SampleBatches(Subset(dataset, idx[:LIDAR_SAMPLES].tolist()), batch_size)
        num_tokens = math.prod(token_grid(next(iter(encoders.values()))))
        keep = token_views(len(idx[:LIDAR_SAMPLES]), num_tokens, g)  # [V, n, Nk]
        report: dict[str, Any] = {"num_samples": len(idx)}
        for name, encoder in encoders.items():
            with evaluating(encoder):
                feats, _ = pooled(encoder, samples, device)  # [N, D]
                views = view_features(encoder, view_samples, keep, device)  # [n, V, D]
            report["embed_dim"] = feats.shape[1]
            report["lidar_views"] = [views.shape[0], LIDAR_VIEWS, LIDAR_KEEP]  # samples, views each, token share
            report[name] = {
                "effective_rank": round(float(effective_rank(feats)), 3),
                "lidar": round(float(lidar(views)), 3) if views.shape[0] > 1 else None,
                "feature_spread": round(float(feature_spread(feats)), 4),
            }
    return report


def token_views(num_samples: int, num_tokens: int, generator: torch.Generator) -> torch.Tensor:
    """:data:`LIDAR_VIEWS` random sets of ``ceil(LIDAR_KEEP * num_tokens)`` token indices per
    sample, sorted: ``[LIDAR_VIEWS, num_samples, Nk]``.

    >>> token_views(3, 16, torch.Generator().manual_seed(0)).shape
    torch.Size([8, 3, 8])
    """
    kept = max(1, math.ceil(LIDAR_KEEP * num_tokens))
    order = torch.rand(LIDAR_VIEWS, num_samples, num_tokens, generator=generator).argsort(dim=-1)
    return order[..., :kept].sort(dim=-1).values


@torch.no_grad()
def view_features(encoder: nn.Module, samples: SampleBatches, keep: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Each sample encoded once per token set of ``keep [V, n, Nk]``, kept tokens mean-pooled:
    ``[n, V, D]`` float32 on the CPU."""
    rows, start = [], 0
    for x, _ in samples.batches():
        x = x.to(device)
        sets = keep[:, start : start + len(x)].to(device)  # [V, b, Nk]
        rows.append(torch.stack([encoder(x, keep=s).float().mean(dim=1).cpu() for s in sets], dim=1))  # [b, V, D]
        start += len(x)
    return torch.cat(rows)


def describe(report: Mapping[str, Any]) -> str:
    """One console line for a :func:`representation_report`."""
    names = [k for k, v in report.items() if isinstance(v, dict)]
    parts = [
        f"{name} effective rank {report[name]['effective_rank']:.1f}"
        + (f", LiDAR {report[name]['lidar']:.1f}" if report[name].get("lidar") is not None else "")
        + f", spread {report[name]['feature_spread']:.2f}"
        for name in names
    ]
    return (
        f"representation ({report['num_samples']} samples, {report.get('embed_dim', '?')} dims, "
        f"mean-pooled): " + "; ".join(parts)
    )


def write_report(report: Mapping[str, Any], out_dir: str | Path) -> Path:
    path = Path(out_dir) / FILE_NAME
    path.write_text(json.dumps(dict(report), indent=2) + "\n")
    return path
