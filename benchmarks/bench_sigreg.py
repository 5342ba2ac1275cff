"""SIGReg's forward and backward: the knot-by-knot characteristic function against the direct form.

The direct form builds the ``[N, K, T]`` products of the projected samples and the knots and
takes their cosines and sines in one go (autograd then keeps them for the backward); the
framework's :class:`~jepa_core.regularizers.EmpiricalCharacteristicFunction` walks the knots one
at a time and recomputes in the backward. Both give the same statistic; the two are interleaved
so that a busy machine slows both alike; prints the median time per call (forward and backward of
``--views`` views of ``--batch`` samples, as ``lejepa_small`` calls it per step) and samples/s::

    python benchmarks/bench_sigreg.py --slices 1024 --batch 128 --dim 16 --views 4
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from jepa_core.regularizers import SIGReg, SIGRegConfig

try:
    from bench_precision_cpu import cpu_name  # run as a script from benchmarks/
except ImportError:  # pragma: no cover - imported as benchmarks.bench_sigreg
    from benchmarks.bench_precision_cpu import cpu_name


def direct_sigreg(reg: SIGReg, z: torch.Tensor, step: int) -> torch.Tensor:
    """The statistic with the ``[N, K, T]`` tensors built at once (one process)."""
    n, d = z.shape
    proj = z @ reg.directions(d, step, z.device)  # [N, K]
    xt = proj.unsqueeze(-1) * reg.t  # [N, K, T]
    err = (torch.cos(xt).mean(0) - reg.normal_cf).square() + torch.sin(xt).mean(0).square()  # [K, T]
    return (n * (err * reg.quadrature).sum(-1)).mean()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--views", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=5, help="calls per round")
    args = parser.parse_args(argv)
    reg = SIGReg(SIGRegConfig(num_slices=args.slices))
    z = torch.randn(args.views, args.batch, args.dim, generator=torch.Generator().manual_seed(0))
    ways = {
        "knot by knot (the framework's)": lambda v, s: reg(v, step=s),
        "direct [N, K, T]": lambda v, s: direct_sigreg(reg, v, s),
    }

    def call(way) -> None:
        views = z.clone().requires_grad_()
        sum(way(views[v], v) for v in range(args.views)).backward()

    for way in ways.values():
        call(way)
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, way in ways.items():
            t = time.perf_counter()
            for _ in range(args.calls):
                call(way)
            times[name].append((time.perf_counter() - t) / args.calls)
    print(
        f"SIGReg, {args.slices} slices, {args.views} views of {args.batch} x {args.dim}, "
        f"{torch.get_num_threads()} threads, {cpu_name()}"
    )
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name}: {med * 1000:.1f} ms per step, {args.views * args.batch / med:.0f} samples/s")


if __name__ == "__main__":
    main()
