"""Whole training iterations of several presets on this CPU, and the pretraining time each takes.

Each way is a preset with optional ``KEY=VALUE`` overrides, built as ``jepa train`` builds it: its
own precision (``auto`` resolved for this CPU), attention, batch, data loader and data workers.
One iteration is what a run repeats: the next batch from the loader (views, masks and workers
included), then ``Trainer.train_step``. The ways are interleaved in rounds, so that a machine whose
speed drifts slows all of them alike, and each prints its median iteration time, images/s, the
steps of its whole schedule on the data (epochs x steps per epoch) and the pretraining time that
makes, beside its ratio to the first way. Each way reads the data in an order of its own (its
training seed plus its position), so that files the operating system has not cached yet slow
every way alike; with one order, the first way of each round would read them from disk and the
others from the cache. Online evaluation, logging and checkpoints are left out, and a dataset
with ``data.cache`` decodes the images it has not met yet (a run's first epoch)::

    python benchmarks/bench_budget.py --data /data/fmnist/train --set data.val_root=/data/fmnist/val \
        --way small --way lejepa_small_views \
        --way "lejepa_small_views objective.num_slices=256"

``--flops`` adds, for each way, the GFLOP of one training step's matrix products and
convolutions (forward, backward and optimizer, counted by torch's ``FlopCounterMode``; the CPU's
fused attention kernel is not counted) and the time they would take at this CPU's rate for a
large matrix product at the way's precision: the part of the step that is arithmetic, and what
the other operations take.
"""

from __future__ import annotations

import argparse
import statistics
import time

import attrs
import torch
from bench_precision_cpu import cpu_name
from torch.utils.flop_counter import FlopCounterMode

from jepa_core.demo_speed import TrainingSteps, training_steps
from jepa_core.doctor import matmul_gflops
from jepa_core.errors import JepaError
from jepa_core.registry import build_registry
from jepa_core.resolve import resolve_config


@attrs.frozen
class Way:
    """One way to pretrain: its label, one training iteration, and the steps of its whole schedule."""

    label: str
    images_per_step: int
    steps: TrainingSteps

    @property
    def total_steps(self) -> int:
        return self.steps.total_steps

    @property
    def precision(self) -> str:
        return self.steps.precision

    def iterate(self) -> None:
        self.steps.trainer.train_step(next(self.steps.batches))


def parse_way(text: str) -> tuple[str, tuple[str, ...]]:
    """``"PRESET KEY=VALUE ..."`` -> the preset and its overrides.

    >>> parse_way("lejepa_small_views objective.num_slices=256")
    ('lejepa_small_views', ('objective.num_slices=256',))
    """
    preset, *overrides = text.split()
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise SystemExit(f"--way {text!r}: {bad[0]!r} is not a KEY=VALUE override")
    return preset, tuple(overrides)


def build_way(plugin: str, text: str, data: str | None, common: tuple[str, ...] = (), position: int = 0) -> Way:
    """The training iteration of one way (``common`` overrides first, then the way's own), on this
    CPU, with its own loader and trainer; its training seed is offset by ``position``, so that ways
    read their samples in different orders."""
    preset, own = parse_way(text)
    registry = build_registry()
    try:
        cfg = resolve_config(registry, plugin=plugin, preset=preset, data=data, overrides=common + own)
        cfg = attrs.evolve(cfg, train=attrs.evolve(cfg.train, seed=cfg.train.seed + position))
        steps = training_steps(cfg, registry)
    except JepaError as err:
        raise SystemExit(f"--way {text!r}: {err}") from None
    return Way(text, cfg.train.batch_size, steps)


PRECISION_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def product_gflop(way: Way) -> float:
    """GFLOP of the matrix products and convolutions of one training step of ``way`` (its next
    batch): forward, backward and the optimizer step."""
    batch = next(way.steps.batches)
    with FlopCounterMode(display=False) as counter:
        way.steps.trainer.train_step(batch)
    return counter.get_total_flops() / 1e9


def clock(seconds: float) -> str:
    """``1234.5`` -> ``'20 min 34 s'``.

    >>> clock(1234.5), clock(42.0)
    ('20 min 34 s', '42 s')
    """
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugin", default="image")
    parser.add_argument(
        "--way", action="append", required=True, help='"PRESET [KEY=VALUE ...]", repeatable; the first is the reference'
    )
    parser.add_argument("--data", help="the folder of the presets' training data (sets data.root)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="an override for every way, repeatable"
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5, help="iterations per way and round")
    parser.add_argument("--warmup", type=int, default=3, help="iterations per way before the rounds")
    parser.add_argument(
        "--flops", action="store_true", help="also each step's matrix-product GFLOP and their time at this CPU's rate"
    )
    args = parser.parse_args(argv)
    ways = [build_way(args.plugin, text, args.data, tuple(args.set), i) for i, text in enumerate(args.way)]
    for way in ways:
        for _ in range(args.warmup):
            way.iterate()
    times: dict[str, list[float]] = {way.label: [] for way in ways}
    for _ in range(args.rounds):
        for way in ways:
            start = time.perf_counter()
            for _ in range(args.steps):
                way.iterate()
            times[way.label].append((time.perf_counter() - start) / args.steps)
    print(f"whole iterations (data + step), {torch.get_num_threads()} threads, {cpu_name()}")
    reference = None
    medians = {label: statistics.median(per_round) for label, per_round in times.items()}
    for way in ways:
        per_step = medians[way.label]
        pretraining = per_step * way.total_steps
        reference = reference or pretraining
        print(
            f"{way.label} ({way.precision}, batch {way.images_per_step}): {per_step * 1000:.0f} ms/step, "
            f"{way.total_steps} steps in {clock(pretraining)} ({pretraining / reference:.2f}x), "
            f"{way.images_per_step / per_step:.0f} images/s"
        )
    if args.flops:
        rates = {p: matmul_gflops(seconds=2.0, dtype=PRECISION_DTYPES[p]).gflops for p in {w.precision for w in ways}}
        for precision, rate in sorted(rates.items()):
            print(f"{precision} matrix product ({torch.get_num_threads()} threads): {rate:.0f} GFLOP/s")
        for way in ways:
            gflop, per_step = product_gflop(way), medians[way.label]
            at_rate = gflop / rates[way.precision]
            print(
                f"{way.label}: {gflop:.3g} GFLOP of products per step, {at_rate * 1000:.0f} ms at the "
                f"{way.precision} rate ({at_rate / per_step:.0%} of the {per_step * 1000:.0f} ms iteration)"
            )


if __name__ == "__main__":
    main()
