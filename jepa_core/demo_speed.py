"""How fast this machine trains the image demo: a few of its real training steps, timed.

``jepa doctor`` turns the measured rate into the expected time of ``make demo``. Timing the demo's
own steps (its ViT, masker, regulariser, data loader and optimiser, as ``jepa train`` builds them)
follows the demo from one CPU kind to another, where a matmul benchmark does not: the demo's
images/s per matmul GFLOP/s was 0.95-1.01 on the project's Intel Xeon (AVX-512) and 1.35-1.86 on
an AMD EPYC (AVX2).

Example::

    speed = measure_demo_speed(build_registry(), seconds=5.0)
    speed.images_per_s, expected_demo_seconds(speed.images_per_s)
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import attrs
import torch

from jepa_core.config import RunConfig
from jepa_core.data import Batch, build_loader
from jepa_core.errors import JepaError
from jepa_core.hardware import Precision
from jepa_core.registry import Registry
from jepa_core.trainer import Trainer

DEMO_PLUGIN, DEMO_PRESET = "image", "demo"

DEMO_TRAIN_IMAGES = 5 * 4096
"""Images the demo trains on: 5 epochs of 4,096 synthetic images (320 steps of 64)."""

DEMO_WALL_PER_TRAIN_TIME = 1.58
"""Whole demo time over the time its 20,480 training images take at the rate
:func:`measure_demo_speed` gives: start-up, the first batches of each epoch, the
online evaluations, the representation report and the end-of-run probes. Measured on two CPU
kinds, idle. A 2-core AMD EPYC (AVX2), 2026-12-02: ``make demo`` took 190 s in all and its steps
timed this way ran at 184-190 images/s (two ``jepa doctor`` runs), a factor of 1.71-1.76. The
project's 2-core Intel Xeon (AVX-512), 2026-12-01: 85-88 s in all against 328-356 images/s in
20-step bursts of the same steps (``benchmarks/calibrate_doctor.py``), 1.36-1.53. The value
between them puts the expectation within about 10% of both. With the demo's data prepared in the
training process (no data worker), a 2-core AMD EPYC (AVX-512), 2026-12-06: 106-108 s in all
against 230, 272 and 331 images/s in three ``jepa doctor`` runs, factors 1.20-1.73 (median 1.42),
so the expectation at the median rate is 8% long there."""

WARMUP_STEPS = 3


@attrs.frozen(kw_only=True)
class DemoSpeed:
    """The image demo's training rate on this machine, and what it was measured over."""

    images_per_s: float
    steps: int
    seconds: float


@attrs.frozen
class TrainingSteps:
    """A run's training steps outside the run: its trainer, an endless stream of its batches, the
    steps of its whole schedule and the precision it trains at."""

    trainer: Trainer
    batches: Iterator[Batch]
    total_steps: int
    precision: Precision


def training_steps(
    cfg: RunConfig, registry: Registry, device: str = "cpu", precision: Precision | None = None
) -> TrainingSteps:
    """The training steps of ``cfg`` in one process, built as ``jepa train`` builds them: its parts,
    attention, data loader (workers included), schedules and precision (``cfg``'s, resolved for
    ``device``, unless ``precision`` names one). Raises :class:`JepaError` where the data cannot
    be read.

    >>> steps = training_steps(registry.preset("image", "demo").build(), registry)  # doctest: +SKIP
    >>> steps.trainer.train_step(next(steps.batches)).loss  # doctest: +SKIP
    """
    from jepa_core.build import build_dataset, build_parts
    from jepa_core.data import EpochBatchSampler
    from jepa_core.dist import DistInfo
    from jepa_core.hardware import resolve_precision
    from jepa_core.interfaces import token_grid
    from jepa_core.parallel import apply_parallelism
    from jepa_core.schedules import Schedules

    dev = torch.device(device)
    dataset = build_dataset(cfg, registry, "train")
    parts = build_parts(cfg, registry)
    precision = precision or resolve_precision(cfg.train.precision, dev)
    train = attrs.evolve(cfg.train, precision=precision)
    plan = apply_parallelism(parts.encoder, parts.predictor, parts.target, train, dev, DistInfo())
    loader = build_loader(
        dataset,
        parts.masker,
        grid=token_grid(parts.encoder),
        micro_batch=train.batch_size,
        seed=train.seed,
        num_workers=train.num_workers,
        steps_per_epoch=train.steps_per_epoch,
        epochs=train.epochs,
    )
    assert isinstance(loader.batch_sampler, EpochBatchSampler)  # build_loader's
    ipe = loader.batch_sampler.steps_per_epoch
    trainer = Trainer(
        parts.encoder,
        parts.predictor,
        parts.target,
        parts.loss,
        optim=cfg.optim,
        schedules=Schedules.from_config(cfg.optim, epochs=train.epochs, iterations_per_epoch=ipe),
        device=dev,
        precision=precision,
        wrap=plan.wrap,
        regularizer=parts.regularizer,
        objective=parts.objective,
    )

    def stream() -> Iterator[Batch]:
        while True:
            yield from loader

    return TrainingSteps(trainer, stream(), train.max_steps or train.epochs * ipe, precision)


def demo_trainer(
    registry: Registry, device: str = "cpu", precision: Precision = "fp32"
) -> tuple[Trainer, Iterator[Batch]]:
    """The image demo's trainer (at ``precision``) and an endless stream of its batches
    (:func:`training_steps`). Raises :class:`JepaError` where no loaded plugin provides the preset."""
    steps = training_steps(registry.preset(DEMO_PLUGIN, DEMO_PRESET).build(), registry, device, precision)
    return steps.trainer, steps.batches


def time_steps(trainer: Trainer, batches: Iterator[Batch], *, seconds: float, min_steps: int = 1) -> DemoSpeed:
    """Train on ``batches`` until ``seconds`` have passed and ``min_steps`` were taken; the rate."""
    images, steps, start = 0, 0, time.perf_counter()
    while True:
        out = trainer.train_step(next(batches))
        images += out.batch_size
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and steps >= min_steps:
            break
    out.loss.item()  # the last step's work is done before the clock stops (a no-op on the CPU)
    elapsed = time.perf_counter() - start
    return DemoSpeed(images_per_s=images / elapsed, steps=steps, seconds=elapsed)


def measure_demo_speed(registry: Registry, seconds: float = 5.0, precision: Precision = "fp32") -> DemoSpeed | None:
    """The image demo's training images/s on the CPU at ``precision`` (``bf16``: autocast), over
    about ``seconds`` of its steps after :data:`WARMUP_STEPS` untimed ones; None where no loaded
    plugin provides ``image/demo``."""
    try:
        trainer, batches = demo_trainer(registry, precision=precision)
    except JepaError:
        return None
    for _ in range(WARMUP_STEPS):  # loader workers, allocator, first-call dispatch
        trainer.train_step(next(batches))
    return time_steps(trainer, batches, seconds=seconds)


def expected_demo_seconds(images_per_s: float) -> float:
    """The whole demo's expected wall time on a machine that trains it at ``images_per_s``.

    >>> round(expected_demo_seconds(160.0))
    202
    """
    return DEMO_TRAIN_IMAGES / images_per_s * DEMO_WALL_PER_TRAIN_TIME


__all__ = [
    "DEMO_TRAIN_IMAGES",
    "DEMO_WALL_PER_TRAIN_TIME",
    "DemoSpeed",
    "TrainingSteps",
    "demo_trainer",
    "expected_demo_seconds",
    "measure_demo_speed",
    "time_steps",
    "training_steps",
]
