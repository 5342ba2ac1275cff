"""Training-step throughput of a preset on the CPU in fp32 and in bf16 autocast.

One real ``Trainer.train_step`` (the preset's objective: for I-JEPA target forward, context
encoder + predictor forward/backward, AdamW, EMA) on one fixed batch, the two precisions
interleaved so that a busy machine slows both alike; prints the median step time and images/s of
each. The batch is random images and masks, or the first batch of the preset's data loader
(``--data``: on that folder), which presets whose views come from the data use (LeJEPA's crops;
``lejepa_small`` needs ``--data``). The gain depends on the CPU and the model (docs/results.md,
bf16 on a CPU), which is why ``train.precision=auto`` picks bf16 only on a CPU with bf16 units
and presets whose model can lose in bf16 name fp32 (:mod:`jepa_core.hardware`)::

    python benchmarks/bench_precision_cpu.py --plugin image --preset small --batch 128 --rounds 4
    python benchmarks/bench_precision_cpu.py --preset lejepa_small --data /data/fmnist/train
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch

from jepa_core.build import build_dataset
from jepa_core.data import Batch, build_loader
from jepa_core.errors import JepaError
from jepa_core.interfaces import token_grid
from jepa_core.parallel import set_fused_attention, use_fused_attention
from jepa_core.registry import build_registry
from jepa_core.resolve import resolve_config
from jepa_core.run import build_parts
from jepa_core.schedules import Schedules
from jepa_core.trainer import Trainer

PRECISIONS = ("fp32", "bf16")


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def make_step(
    plugin: str, preset: str, batch_size: int, precision: str, data: str | None = None, attention: str = "auto"
):
    registry = build_registry()
    cfg = resolve_config(registry, plugin=plugin, preset=preset, data=data)
    parts = build_parts(cfg, registry)
    fused = use_fused_attention(attention, torch.device("cpu"), precision)
    set_fused_attention((parts.encoder, parts.predictor, parts.target), fused)
    trainer = Trainer.from_parts(
        parts,
        cfg,
        schedules=Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=100),
        device="cpu",
        precision=precision,
    )
    if data is not None or cfg.objective.name != "predictive":  # views made by the data pipeline
        try:
            dataset = build_dataset(cfg, registry, "train")
        except JepaError as err:
            need = f"preset {plugin}/{preset} takes its views from its data: give --data FOLDER ({err})"
            raise SystemExit(need) from None
        loader = build_loader(dataset, parts.masker, grid=token_grid(parts.encoder), micro_batch=batch_size, seed=0)
        batch = next(iter(loader))
    else:
        g = torch.Generator().manual_seed(0)
        masks = parts.masker(batch_size, parts.encoder.token_grid, g)
        x = torch.randn(batch_size, *parts.encoder.expected_input_shape, generator=g)
        batch = Batch(x, masks, torch.zeros(batch_size, dtype=torch.long))
    return lambda: trainer.train_step(batch)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugin", default="image")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5, help="steps per round")
    parser.add_argument("--data", help="a folder for the preset's dataset: time a real batch of it")
    parser.add_argument(
        "--attention", default="auto", choices=("auto", "fused", "math"), help="train.attention of both runs"
    )
    args = parser.parse_args(argv)
    steps = {p: make_step(args.plugin, args.preset, args.batch, p, args.data, args.attention) for p in PRECISIONS}
    for step in steps.values():
        for _ in range(3):
            step()
    times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
    for _ in range(args.rounds):
        for p, step in steps.items():
            t = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[p].append((time.perf_counter() - t) / args.steps)
    print_medians(f"{args.plugin}/{args.preset}", args.batch, times)


def interleaved_times(ways: dict[str, Callable[[], object]], rounds: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds of each call of each way, the ways called in turn for ``warmup`` untimed rounds and
    then ``rounds`` timed ones, so that a busy machine slows all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in ways}
    for r in range(warmup + rounds):
        for name, way in ways.items():
            start = time.perf_counter()
            way()
            if r >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def print_medians(what: str, batch: int, times: dict[str, list[float]]) -> None:
    """One header line (``what``, batch, threads, CPU), then the median step time and images/s of
    each way measured (``times``: seconds per step)."""
    print(f"{what}, batch {batch}, {torch.get_num_threads()} threads, {cpu_name()}")
    for way, ts in times.items():
        med = statistics.median(ts)
        print(f"{way}: {med * 1000:.0f} ms/step, {batch / med:.0f} images/s")


if __name__ == "__main__":
    main()
