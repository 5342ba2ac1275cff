"""LeJEPA token views: ``ViewPath``'s grouped encoder calls against one encoder call per view.

Forward and backward of a preset's encoder and LeJEPA projector on a fixed random batch, fresh
token views drawn each round; the two ways interleaved so that a busy machine slows both alike.
Prints the median step time and images/s of each::

    python benchmarks/bench_lejepa_views.py --plugin image --preset lejepa_small --batch 128 --rounds 20
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from jepa_core.objectives import LeJEPAObjective, ViewPath
from jepa_core.registry import build_registry
from jepa_core.run import build_parts

try:
    from bench_precision_cpu import print_medians  # run as a script from benchmarks/
except ImportError:  # pragma: no cover - imported as benchmarks.bench_lejepa_views
    from benchmarks.bench_precision_cpu import print_medians


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", default="image")
    parser.add_argument("--preset", default="lejepa_small")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    registry = build_registry()
    cfg = registry.preset(args.plugin, args.preset).build()
    parts = build_parts(cfg, registry)
    if not isinstance(parts.objective, LeJEPAObjective):
        raise SystemExit(f"preset '{args.preset}' does not train a LeJEPA view path")
    encoder, head = parts.encoder, parts.objective.head
    path = ViewPath(encoder, head)
    x = torch.randn(args.batch, *parts.encoder.expected_input_shape)
    g = torch.Generator().manual_seed(0)

    def per_view(keep: tuple[torch.Tensor, ...]) -> torch.Tensor:
        emb = torch.stack([encoder(x, k).mean(1) for k in keep])  # [V, B, D]
        return emb.square().mean() + head(emb.flatten(0, 1)).square().mean()

    def grouped(keep: tuple[torch.Tensor, ...]) -> torch.Tensor:
        emb, proj = path(x, keep)
        return emb.square().mean() + proj.square().mean()

    ways: dict[str, Callable[[tuple[torch.Tensor, ...]], torch.Tensor]] = {
        "one call per view": per_view,
        "grouped (ViewPath)": grouped,
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for r in range(args.rounds + 2):  # 2 warm-up rounds
        keep = parts.masker(args.batch, parts.encoder.token_grid, g).keep
        for name, step in ways.items():
            start = time.perf_counter()
            step(keep).backward()
            if r >= 2:
                times[name].append(time.perf_counter() - start)
    print_medians(f"{args.plugin}/{args.preset}", args.batch, times)


if __name__ == "__main__":
    main()
