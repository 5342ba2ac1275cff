"""How fast this machine trains the image demo that ``make demo`` runs: a few of its real
training steps, timed.

``jepa doctor`` turns the measured rate into the expected time of ``make demo``. Timing the demo's
own steps (its ViT, views, objective, regulariser and optimiser, as ``jepa train`` builds them)
follows the demo from one CPU kind to another, where a matmul benchmark does not (the demo's
images/s per matmul GFLOP/s differs by CPU kind: :data:`jepa_core.doctor.DEMO_IMAGES_PER_GFLOP`).

Example::

    registry = build_registry()
    speed = measure_demo_speed(registry, seconds=5.0, precision=demo_precision(registry))
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

DEMO_PLUGIN, DEMO_PRESET = "image", "lejepa_demo"
"""The preset ``make demo`` trains."""

DEMO_TRAIN_IMAGES = 6 * 4096
"""Images the demo trains on: 6 epochs of 4,096 synthetic images (384 steps of 64)."""

DEMO_WALL_PER_TRAIN_TIME = 1.62
"""Whole demo time over the time its training images take at the rate :func:`measure_demo_speed`
gives at the demo's precision (:func:`demo_precision`): start-up, the first batches of each
epoch, the online evaluations, the representation report and the end-of-run probes. Measured on a
2-core AMD EPYC with AVX-512 bf16 units (the demo in bf16), idle, 2026-12-06: four ``jepa doctor``
runs, each followed by a whole ``make demo`` run, gave 398, 401, 344 and 399 img/s and 100, 118,
106 and 99 s, factors 1.62, 1.92, 1.48 and 1.61 (median 1.62; the machine's speed moved between
the doctor and the run of the second pair). The I-JEPA ``demo`` preset, timed the same way in
fp32, gave 1.36-1.76 on an Intel Xeon and two other AMD EPYC kinds."""

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
    trainer = Trainer.from_parts(
        parts,
        cfg,
        schedules=Schedules.from_config(cfg.optim, epochs=train.epochs, iterations_per_epoch=ipe),
        device=dev,
        precision=precision,
        wrap=plan.wrap,
    )

    def stream() -> Iterator[Batch]:
        while True:
            yield from loader

    return TrainingSteps(trainer, stream(), train.max_steps or train.epochs * ipe, precision)


def demo_precision(registry: Registry, device: str = "cpu") -> Precision:
    """The precision the demo trains at on ``device``: its preset's ``train.precision`` resolved
    there (``auto`` -> bf16 on a CPU with bf16 units); fp32 where no loaded plugin provides it.

    >>> demo_precision(build_registry()) in ("fp32", "bf16")  # doctest: +SKIP
    True
    """
    from jepa_core.hardware import resolve_precision

    try:
        cfg = registry.preset(DEMO_PLUGIN, DEMO_PRESET).build()
    except JepaError:
        return "fp32"
    return resolve_precision(cfg.train.precision, torch.device(device))


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
    249
    """
    return DEMO_TRAIN_IMAGES / images_per_s * DEMO_WALL_PER_TRAIN_TIME


__all__ = [
    "DEMO_TRAIN_IMAGES",
    "DEMO_WALL_PER_TRAIN_TIME",
    "DemoSpeed",
    "TrainingSteps",
    "demo_precision",
    "demo_trainer",
    "expected_demo_seconds",
    "measure_demo_speed",
    "time_steps",
    "training_steps",
]
