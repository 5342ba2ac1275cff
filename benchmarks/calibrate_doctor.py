"""Measure the matmul relation ``jepa doctor`` falls back on when the image demo is not loaded.

Alternates, in one process, 20 training steps of the image demo (its real parts and data loader,
:func:`jepa_core.demo_speed.demo_trainer`, at the precision the demo trains at on this CPU) with a
3-second run of :func:`jepa_core.doctor.matmul_gflops`, so a machine whose load changes over
minutes gives pairs measured under the same conditions, and prints the demo's images/s per
benchmark GFLOP/s of each pair and their median (the constant
:data:`jepa_core.doctor.DEMO_IMAGES_PER_GFLOP`)::

    python benchmarks/calibrate_doctor.py --rounds 6
"""

from __future__ import annotations

import argparse
import statistics

from jepa_core.demo_speed import demo_precision, demo_trainer, time_steps
from jepa_core.doctor import matmul_gflops
from jepa_core.registry import build_registry

STEPS = 20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=6)
    args = p.parse_args()
    registry = build_registry()
    precision = demo_precision(registry)
    trainer, batches = demo_trainer(registry, precision=precision)
    print(f"the demo's steps in {precision}")
    time_steps(trainer, batches, seconds=0.0, min_steps=5)  # warm-up: loader workers, allocator
    ratios = []
    for r in range(args.rounds):
        rate = time_steps(trainer, batches, seconds=0.0, min_steps=STEPS).images_per_s
        gflops = matmul_gflops(3.0).gflops
        ratios.append(rate / gflops)
        print(
            f"round {r}: demo {rate:.0f} img/s, matmul {gflops:.1f} GFLOP/s, "
            f"ratio {rate / gflops:.3f} img/s per GFLOP/s"
        )
    print(f"median: {statistics.median(ratios):.3f} img/s per GFLOP/s over {len(ratios)} rounds")


if __name__ == "__main__":
    main()
