"""CPU benchmark of one full I-JEPA training step (fp32) at 224 px with the official masks.

Models: ViT-Ti/16 and ViT-S/16 encoders with the vitb16 recipe's predictor (384 wide, 6
blocks), batch 8, multi-block masks (4 targets) sampled per step. A step is the real
``Trainer.train_step``: target forward, context encoder + predictor forward/backward, AdamW,
EMA. Measurements only; run with ``pytest benchmarks --benchmark-enable``. The analytic FLOPs
per step (``benchmarks/bench_gpu.py``) are stored in the benchmark's ``extra_info``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import attrs
import pytest
import torch

BATCH = 8


def _bench_gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu", Path(__file__).with_name("bench_gpu.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("size", ["tiny", "small"], ids=["tiny16", "small16"])
def test_train_step_224(benchmark, size):
    from jepa_core.data import Batch
    from jepa_core.registry import build_registry
    from jepa_core.run import build_parts
    from jepa_core.schedules import Schedules
    from jepa_core.trainer import Trainer

    bench = _bench_gpu()
    registry = build_registry()
    cfg = registry.preset("image", "vitb16").build()
    cfg = attrs.evolve(cfg, encoder=attrs.evolve(cfg.encoder, options=attrs.evolve(cfg.encoder.options, size=size)))
    parts = build_parts(cfg, registry)
    trainer = Trainer.from_parts(
        parts,
        cfg,
        schedules=Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=100),
        device="cpu",
        precision="fp32",
    )
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, 3, 224, 224, generator=g)
    labels = torch.zeros(BATCH, dtype=torch.long)
    drawn = [parts.masker(BATCH, parts.encoder.token_grid, g) for _ in range(3)]  # warmup + 2 rounds
    masks = iter(drawn)

    def setup():
        return (Batch(x, next(masks), labels),), {}

    out = benchmark.pedantic(trainer.train_step, setup=setup, rounds=2, warmup_rounds=1)
    assert torch.isfinite(out.loss)
    shape = bench.model_shape(parts.encoder, parts.predictor)
    flops = [bench.step_flops(shape, m.context.shape[1], m.targets.shape[2], m.targets.shape[1]).total for m in drawn]
    benchmark.extra_info["gflop_per_step"] = BATCH * sum(flops) / len(flops) / 1e9
