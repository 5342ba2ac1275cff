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
collapse). LiDAR's views are those of the online evaluation
(:func:`~jepa_core.online_eval.token_views`) on the first
:data:`~jepa_core.online_eval.LIDAR_SAMPLES` samples, the same token sets for every encoder.

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
from jepa_core.monitors import effective_rank, evaluating, feature_spread, lidar
from jepa_core.online_eval import (
    LIDAR_KEEP,
    LIDAR_SAMPLES,
    LIDAR_VIEWS,
    SampleBatches,
    pooled,
    token_views,
    view_features,
)

FILE_NAME = "representation.json"
NUM_SAMPLES = 1024


def seeded_indices(size: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` distinct indices below ``size`` drawn by ``generator`` (all of them, shuffled, when
    ``count >= size``): the samples a report or a picture reads.

    >>> seeded_indices(5, 3, torch.Generator().manual_seed(0)).tolist()
    [4, 0, 1]
    """
    return torch.randperm(size, generator=generator)[: min(count, size)]


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
        idx = seeded_indices(size, num_samples, g)
        samples = SampleBatches(Subset(dataset, idx.tolist()), batch_size)
        view_samples = SampleBatches(Subset(dataset, idx[:LIDAR_SAMPLES].tolist()), batch_size)
        grid = getattr(next(iter(encoders.values())), "token_grid", None)
        keep = token_views(len(idx[:LIDAR_SAMPLES]), math.prod(grid), g) if grid else None  # [V, n, Nk]
        report: dict[str, Any] = {"num_samples": len(idx)}
        for name, encoder in encoders.items():
            with evaluating(encoder):
                feats, _ = pooled(encoder, samples, device)  # [N, D]
                views = view_features(encoder, view_samples, keep, device) if keep is not None else None  # [n, V, D]
            report["embed_dim"] = feats.shape[1]
            if views is not None:
                report["lidar_views"] = [views.shape[0], LIDAR_VIEWS, LIDAR_KEEP]  # samples, views each, token share
            report[name] = {
                "effective_rank": round(float(effective_rank(feats)), 3),
                "lidar": round(float(lidar(views)), 3) if views is not None and views.shape[0] > 1 else None,
                "feature_spread": round(float(feature_spread(feats)), 4),
            }
    return report


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
