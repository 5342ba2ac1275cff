"""Measure the relation ``jepa doctor`` uses to predict the image demo's speed on a machine.

Alternates, in one process, 20 training steps of the image demo (the real ``Trainer.train_step``
on the demo's data loader) with a 3-second run of :func:`jepa_core.doctor.matmul_gflops`, so a
machine whose load changes over minutes gives pairs measured under the same conditions, and
prints the demo's images/s per benchmark GFLOP/s of each pair and their median (the constant
:data:`jepa_core.doctor.DEMO_IMAGES_PER_GFLOP`)::

    python benchmarks/calibrate_doctor.py --rounds 6
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from jepa_core.data import build_loader
from jepa_core.dist import detect
from jepa_core.doctor import matmul_gflops
from jepa_core.parallel import apply_parallelism
from jepa_core.registry import build_registry
from jepa_core.run import build_dataset, build_parts
from jepa_core.schedules import Schedules
from jepa_core.trainer import Trainer

STEPS = 20


def demo_trainer() -> tuple[Trainer, object]:
    reg = build_registry()
    cfg = reg.preset("image", "demo").build()
    parts = build_parts(cfg, reg)
    device = torch.device("cpu")
    plan = apply_parallelism(parts.encoder, parts.predictor, parts.target, cfg.train, device, detect())
    loader = build_loader(
        build_dataset(cfg, reg, "train"),
        parts.masker,
        grid=parts.encoder.token_grid,
        micro_batch=cfg.train.batch_size,
        seed=0,
        num_workers=cfg.train.num_workers,
        epochs=cfg.train.epochs,
    )
    schedules = Schedules.from_config(cfg.optim, epochs=cfg.train.epochs, iterations_per_epoch=len(loader))
    trainer = Trainer(
        parts.encoder,
        parts.predictor,
        parts.target,
        parts.loss,
        optim=cfg.optim,
        schedules=schedules,
        device=device,
        precision="fp32",
        wrap=plan.wrap,
        regularizer=parts.regularizer,
        objective=parts.objective,
    )
    return trainer, loader


def batches(loader):
    while True:
        yield from loader


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=6)
    args = p.parse_args()
    trainer, loader = demo_trainer()
    stream = batches(loader)
    for _ in range(5):  # warm-up: loader workers, allocator
        trainer.train_step(next(stream))
    ratios = []
    for r in range(args.rounds):
        start = time.perf_counter()
        images = 0
        for _ in range(STEPS):
            out = trainer.train_step(next(stream))
            images += out.batch_size
        out.loss.item()
        rate = images / (time.perf_counter() - start)
        gflops = matmul_gflops(3.0).gflops
        ratios.append(rate / gflops)
        print(
            f"round {r}: demo {rate:.0f} img/s, matmul {gflops:.1f} GFLOP/s, "
            f"ratio {rate / gflops:.3f} img/s per GFLOP/s"
        )
    print(f"median: {statistics.median(ratios):.3f} img/s per GFLOP/s over {len(ratios)} rounds")


if __name__ == "__main__":
    main()
