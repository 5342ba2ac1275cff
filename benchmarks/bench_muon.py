"""Muon's Newton-Schulz iteration on a preset's weight matrices: one matrix at a time against
the matrices of one shape stacked into one batched iteration (what ``MuonAdamW`` runs).

The matrices Muon steps for the preset (its encoder's, predictor's and objective head's 2-D
weights) get random updates; the two ways give the same numbers and are interleaved so that a
busy machine slows both alike. Prints the median time of one optimizer step's iteration and
what it adds up to over the preset's schedule::

    python benchmarks/bench_muon.py --preset lejepa_small_fast --steps 2808
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import attrs
import torch

from jepa_core.build import build_parts
from jepa_core.optim import build_optimizer, orthogonalize, orthogonalize_all
from jepa_core.registry import build_registry

try:
    from bench_precision_cpu import cpu_name, interleaved_times  # run as a script from benchmarks/
except ImportError:  # pragma: no cover - imported as benchmarks.bench_muon
    from benchmarks.bench_precision_cpu import cpu_name, interleaved_times


def muon_matrices(plugin: str, preset: str) -> list[torch.Tensor]:
    """The matrices ``optim.optimizer=muon`` steps in the preset's networks (the preset as it is
    otherwise)."""
    registry = build_registry()
    cfg = registry.preset(plugin, preset).build()
    cfg = attrs.evolve(cfg, optim=attrs.evolve(cfg.optim, optimizer="muon"))
    parts = build_parts(cfg, registry)
    trained = [("encoder", parts.encoder), ("predictor", parts.predictor)]
    if parts.objective is not None and parts.objective.head is not None:
        trained.append(("objective", parts.objective.head))
    optimizer = build_optimizer(trained, cfg.optim)
    return [p for g in optimizer.param_groups if g.get("algorithm") == "muon" for p in g["params"]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", default="image")
    parser.add_argument("--preset", default="lejepa_small_fast")
    parser.add_argument("--steps", type=int, default=0, help="optimizer steps of the schedule (0: not printed)")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)

    params = muon_matrices(args.plugin, args.preset)
    torch.manual_seed(0)
    updates = [torch.randn_like(p) for p in params]
    ways: dict[str, Callable[[], object]] = {
        "one matrix at a time": lambda: [orthogonalize(u) for u in updates],
        "stacked by shape": lambda: orthogonalize_all(updates),
    }
    times = interleaved_times(ways, args.rounds)
    shapes = len({(min(p.shape), max(p.shape)) for p in params})
    print(
        f"{args.plugin}/{args.preset}: Newton-Schulz of {len(params)} matrices of {shapes} shapes, "
        f"{torch.get_num_threads()} threads, {cpu_name()}"
    )
    for name, ts in times.items():
        med = statistics.median(ts)
        total = f", {med * args.steps:.0f} s over {args.steps} steps" if args.steps else ""
        print(f"{name}: {med * 1000:.1f} ms per optimizer step{total}")


if __name__ == "__main__":
    main()
