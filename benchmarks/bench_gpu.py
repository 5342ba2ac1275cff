"""GPU benchmark of full JEPA training steps: samples/s, peak memory and MFU per model.

    python benchmarks/bench_gpu.py --models vitb16,vitl16,vith14 --batch-size 128   # ~2-4 min on one H100
    python benchmarks/bench_gpu.py --preset vith14 --batch-size 128 --steps 20 --warmup 5 --compile
    python benchmarks/bench_gpu.py --models video/vitl16 --batch-size 24              # V-JEPA clips
    python benchmarks/bench_gpu.py --models vitb16 --profile prof/                   # + prof/profile_vitb16.txt
    python benchmarks/bench_gpu.py --device cpu --models tiny --batch-size 2 --steps 2 --warmup 1 --precision fp32

Each model is a preset, ``plugin/preset`` or a bare image preset (``tiny`` = a small ViT-Ti/16
variant of the image ``vitb16`` recipe, ``video/tiny`` a 2-block video ViT-Ti on 4 x 64 px
clips, for smoke tests). ``images_per_s`` counts samples (clips for video). A step is the real
:meth:`Trainer.train_step` (target forward,
context encoder + predictor forward/backward, AdamW, EMA) on one random batch already on
the device, with the preset's multi-block masks sampled on the CPU ahead of time. After
``--warmup`` steps, ``--steps`` steps are timed with CUDA events (``perf_counter`` on CPU).
Printed per model, one ``key=value`` line::

    model=vith14 device=... batch=128 step_ms=... images_per_s=... peak_mem_gib=...
    gflop_per_image=... achieved_tflops=... peak_tflops=989 mfu=...

MFU = achieved FLOP/s / the card's dense bf16 peak (H100/H200 SXM 989 TFLOP/s, A100 312;
``--peak-tflops`` for others; ``n/a`` when unknown).

FLOP counting (analytic, per sample; 2 FLOPs per multiply-accumulate)
---------------------------------------------------------------------
A pre-norm block of width ``d``, MLP ratio ``r`` on ``n`` tokens does, forward:

- linear layers: qkv ``3nd^2`` + out-proj ``nd^2`` + MLP ``2rnd^2`` MACs, i.e.
  ``2(4 + 2r) n d^2`` FLOPs (``24 n d^2`` for ``r = 4``);
- attention: ``QK^T`` and ``AV`` are ``n^2 d`` MACs each (summed over heads), i.e. ``4 n^2 d``.

So ``block(n, d) = 2(4 + 2r) n d^2 + 4 n^2 d``. The patch embedding over all ``N`` tokens is
``patch = 2 N (C p^2) D``. With ``L`` encoder blocks of width ``D``, ``Lp`` predictor blocks of
width ``Dp``, ``Nc`` context tokens, ``M`` target blocks of ``Nt`` tokens:

- target encoder, forward only over all ``N`` tokens: ``patch + L block(N, D)``;
- context encoder, forward + backward (3x forward; the patch embedding, of the kept patches
  only, 2x since the image needs no gradient) over ``Nc`` tokens:
  ``2 (Nc / N) patch + 3 L block(Nc, D)``;
- predictor, forward + backward, one sequence of ``Nc + Nt`` tokens per target block:
  ``3 [2 Nc D Dp + M Lp block(Nc + Nt, Dp) + 2 M Nt Dp D]`` (embedding, blocks, projection).

The patch embedding is ``2 * (weights per output channel) * D`` per token, so a video tubelet
(Conv3d, ``C * t * p^2``) is counted like an image patch. Multi-mask steps (V-JEPA's short- and
long-range sets): the target encoder once, the context encoder and predictor once per set.

Norms, GELU, softmax, the loss, AdamW and the EMA are elementwise and left out (the usual MFU
convention; :class:`torch.utils.flop_counter.FlopCounterMode` counts the same ops). Activation
checkpointing's recomputation is not counted either (MFU, not hardware utilisation). For
ViT-H/14 (N=256, Nc~69, Nt~44) this gives ~0.66 TFLOP per image: target 50%, context 40%,
predictor 9%.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import attrs
import torch

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "GH200": 989.0, "A100": 312.0}
DEFAULT_MODELS = "vitb16,vitl16,vith14"


# ----------------------------------------------------------------------------- FLOPs


@attrs.frozen
class ModelShape:
    """What the FLOP count needs from an encoder/predictor pair."""

    num_tokens: int
    patch_flops_per_token: int  # 2 * C * p * p * D
    dim: int
    depth: int
    mlp_ratio: float
    pred_dim: int
    pred_depth: int
    pred_mlp_ratio: float


@attrs.frozen
class StepFlops:
    """FLOPs of one training step for one sample, split by network."""

    target: float
    context: float
    predictor: float

    @property
    def total(self) -> float:
        return self.target + self.context + self.predictor


def block_flops(n: int, d: int, mlp_ratio: float = 4.0) -> float:
    """Forward FLOPs of one transformer block on ``n`` tokens of width ``d``.

    >>> block_flops(196, 768) == 24 * 196 * 768**2 + 4 * 196**2 * 768
    True
    """
    return 2 * (4 + 2 * mlp_ratio) * n * d * d + 4 * n * n * d


def encoder_forward_flops(shape: ModelShape, tokens: int) -> float:
    """The patch embedding and the blocks over ``tokens`` tokens (all ``N``, or a context's kept ones)."""
    return tokens * shape.patch_flops_per_token + shape.depth * block_flops(tokens, shape.dim, shape.mlp_ratio)


def predictor_forward_flops(shape: ModelShape, nc: int, nt: int, m: int) -> float:
    """Context embedding, ``m`` sequences of ``nc + nt`` tokens, projection of the ``m * nt`` outputs."""
    embed = 2 * nc * shape.dim * shape.pred_dim
    blocks = m * shape.pred_depth * block_flops(nc + nt, shape.pred_dim, shape.pred_mlp_ratio)
    proj = 2 * m * nt * shape.pred_dim * shape.dim
    return embed + blocks + proj


def step_flops(shape: ModelShape, nc: int, nt: int, m: int) -> StepFlops:
    """One sample's training-step FLOPs (see the module docstring for the derivation).

    >>> vith14 = ModelShape(256, 2 * 3 * 14 * 14 * 1280, 1280, 32, 4.0, 384, 12, 4.0)
    >>> round(step_flops(vith14, nc=69, nt=44, m=4).total / 1e12, 2)
    0.66
    """
    target = encoder_forward_flops(shape, shape.num_tokens)
    context = 2 * nc * shape.patch_flops_per_token + 3 * shape.depth * block_flops(nc, shape.dim, shape.mlp_ratio)
    predictor = 3 * predictor_forward_flops(shape, nc, nt, m)
    return StepFlops(target, context, predictor)


def multi_step_flops(shape: ModelShape, sets: Sequence[tuple[int, int, int]]) -> StepFlops:
    """One sample's step FLOPs with several mask sets ``(nc, nt, m)``: the target encoder runs
    once, the context encoder and predictor once per set.

    >>> s = ModelShape(1568, 2 * 3 * 2 * 16 * 16 * 1024, 1024, 24, 4.0, 384, 12, 4.0)
    >>> multi_step_flops(s, [(400, 800, 1)]) == step_flops(s, 400, 800, 1)
    True
    """
    parts = [step_flops(shape, nc, nt, m) for nc, nt, m in sets]
    return StepFlops(parts[0].target, sum(p.context for p in parts), sum(p.predictor for p in parts))


def model_shape(encoder: torch.nn.Module, predictor: torch.nn.Module) -> ModelShape:
    """Read a :class:`ModelShape` off the image plugin's ViT encoder and predictor."""

    def ratio(blocks, dim):
        return blocks[0].mlp.fc1.out_features / dim if len(blocks) else 4.0

    weights_per_channel = encoder.patch_embed.proj.weight[0].numel()  # C p^2 (image), C t p^2 (video tubelet)
    return ModelShape(
        num_tokens=encoder.num_tokens,
        patch_flops_per_token=2 * weights_per_channel * encoder.embed_dim,
        dim=encoder.embed_dim,
        depth=len(encoder.blocks),
        mlp_ratio=ratio(encoder.blocks, encoder.embed_dim),
        pred_dim=predictor.embed_dim,
        pred_depth=len(predictor.predictor_blocks),
        pred_mlp_ratio=ratio(predictor.predictor_blocks, predictor.embed_dim),
    )


def peak_tflops(device: torch.device, override: float | None) -> float | None:
    """The card's dense bf16 peak (TFLOP/s) from its name, or ``override``; None when unknown."""
    if override is not None:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, value in sorted(PEAK_BF16_TFLOPS.items(), key=lambda kv: -len(kv[0])):
        if key in name:
            return value
    return None


# ------------------------------------------------------------------------- benchmark


@attrs.frozen
class Result:
    model: str
    device: str
    batch: int
    step_ms: float
    images_per_s: float
    peak_mem_gib: float | None
    gflop_per_image: float
    achieved_tflops: float
    peak_tflops: float | None

    @property
    def mfu(self) -> float | None:
        return self.achieved_tflops / self.peak_tflops if self.peak_tflops else None

    def line(self) -> str:
        mem = f"{self.peak_mem_gib:.2f}" if self.peak_mem_gib is not None else "n/a"
        peak = f"{self.peak_tflops:g}" if self.peak_tflops else "n/a"
        mfu = f"{self.mfu:.3g}" if self.mfu is not None else "n/a"
        return (
            f"model={self.model} device={self.device.replace(' ', '_')} batch={self.batch} "
            f"step_ms={self.step_ms:.1f} images_per_s={self.images_per_s:.1f} peak_mem_gib={mem} "
            f"gflop_per_image={self.gflop_per_image:.1f} achieved_tflops={self.achieved_tflops:.4g} "
            f"peak_tflops={peak} mfu={mfu}"
        )


def build_config(name: str, registry):
    """A preset's RunConfig from ``plugin/preset`` (a bare name is an image preset).

    ``tiny`` (smoke tests) is the image vitb16 recipe shrunk to a 4-block ViT-Ti/16 at 128 px (an
    8x8 grid) with a 2-block, 96-wide predictor; ``video/tiny`` the video vitl16 recipe shrunk to
    a 2-block ViT-Ti on 4 frames of 64 px (a 2x4x4 grid) with a 2-block, 96-wide predictor.
    """
    plugin, _, preset = name.rpartition("/")
    plugin = plugin or "image"
    if preset != "tiny":
        return registry.preset(plugin, preset).build()
    if plugin == "video":
        cfg = registry.preset("video", "vitl16").build()
        enc = attrs.evolve(cfg.encoder.options, size="tiny", img_size=64, num_frames=4, depth=2)
    else:
        cfg = registry.preset(plugin, "vitb16").build()
        enc = attrs.evolve(cfg.encoder.options, size="tiny", img_size=128, depth=4)
    pred = attrs.evolve(cfg.predictor.options, embed_dim=96, depth=2)
    return attrs.evolve(
        cfg, encoder=attrs.evolve(cfg.encoder, options=enc), predictor=attrs.evolve(cfg.predictor, options=pred)
    )


def bench_model(
    name: str,
    *,
    batch_size: int,
    steps: int,
    warmup: int,
    device: torch.device,
    precision: str,
    compile: bool,
    activation_checkpointing: bool,
    peak: float | None,
    registry,
    profile_dir: Path | None = None,
) -> Result:
    from jepa_core.config import TrainConfig
    from jepa_core.data import Batch
    from jepa_core.dist import DistInfo
    from jepa_core.interfaces import mask_sets
    from jepa_core.parallel import apply_parallelism
    from jepa_core.run import build_parts
    from jepa_core.schedules import Schedules
    from jepa_core.trainer import Trainer

    cfg = build_config(name, registry)
    parts = build_parts(cfg, registry)
    train = TrainConfig(
        precision=precision,
        compile=compile,
        activation_checkpointing=activation_checkpointing,
        strategy="none",
        batch_size=batch_size,
    )
    plan = apply_parallelism(parts.encoder, parts.predictor, parts.target, train, device, DistInfo())
    sched = Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=warmup + steps + PROFILED_STEPS)
    trainer = Trainer.from_parts(parts, cfg, schedules=sched, device=device, precision=precision, wrap=plan.wrap)
    shape = model_shape(parts.encoder, parts.predictor)

    g = torch.Generator().manual_seed(0)
    grid = parts.encoder.token_grid
    masks = [
        parts.masker(batch_size, grid, g) for _ in range(warmup + max(steps, PROFILED_STEPS))
    ]  # on the CPU, ahead of time
    x = torch.randn(batch_size, *parts.encoder.expected_input_shape, device=device)
    labels = torch.zeros(batch_size, dtype=torch.long, device=device)
    batches = [Batch(x, mk, labels).to(device) for mk in masks]

    for batch in batches[:warmup]:
        trainer.train_step(batch)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
    t0 = time.perf_counter()
    for batch in batches[warmup : warmup + steps]:
        trainer.train_step(batch)
    if cuda:
        end.record()
        torch.cuda.synchronize(device)
        seconds = start.elapsed_time(end) / 1e3
    else:
        seconds = time.perf_counter() - t0

    if profile_dir is not None:
        profile_steps(trainer, batches[warmup : warmup + PROFILED_STEPS], device, profile_dir / profile_name(name))

    flops = sum(
        batch_size
        * multi_step_flops(
            shape, [(s.context.shape[1], s.targets.shape[2], s.targets.shape[1]) for s in mask_sets(b.masks)]
        ).total
        for b in batches[warmup : warmup + steps]
    )
    images = batch_size * steps
    return Result(
        model=name,
        device=torch.cuda.get_device_name(device) if cuda else str(device),
        batch=batch_size,
        step_ms=1e3 * seconds / steps,
        images_per_s=images / seconds,
        peak_mem_gib=torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
        gflop_per_image=flops / images / 1e9,
        achieved_tflops=flops / seconds / 1e12,
        peak_tflops=peak,
    )


PROFILED_STEPS = 2


def profile_name(model: str) -> str:
    """The profile file of ``model``: ``profile_video_vitl16.txt`` for ``video/vitl16``."""
    return f"profile_{model.replace('/', '_')}.txt"


def profile_steps(trainer, batches: Sequence, device: torch.device, path: Path) -> None:
    """Profile ``batches`` (already timed) with :mod:`torch.profiler` and write the operators'
    totals to ``path``: sorted by host (self CPU) time and, on CUDA, by GPU time, with the wall
    time per step, to tell host-bound steps (launches, synchronisations, allocations) from GPU work."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    with profile(activities=activities) as prof:
        for batch in batches:
            trainer.train_step(batch)
        if cuda:
            torch.cuda.synchronize(device)
    wall_ms = 1e3 * (time.perf_counter() - t0) / len(batches)
    table = prof.key_averages()
    parts = [f"{len(batches)} profiled steps, {wall_ms:.1f} ms per step (wall, profiler on)\n"]
    parts.append("by host time (self CPU):\n" + table.table(sort_by="self_cpu_time_total", row_limit=30))
    if cuda:
        parts.append("by GPU time (self CUDA):\n" + table.table(sort_by="self_cuda_time_total", row_limit=30))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--models", default=DEFAULT_MODELS, help=f"comma-separated presets or 'tiny' (default {DEFAULT_MODELS})"
    )
    p.add_argument("--preset", help="benchmark this one preset (instead of --models)")
    p.add_argument(
        "--batch-size", type=int, default=128, help="images per step (default 128, the recipe's micro-batch)"
    )
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--device", default="cuda")
    p.add_argument("--precision", choices=["bf16", "fp32", "fp16"], default="bf16")
    p.add_argument("--compile", action="store_true", help="torch.compile every transformer block")
    p.add_argument("--activation-checkpointing", action="store_true")
    p.add_argument("--peak-tflops", type=float, help="the card's dense peak in TFLOP/s (for MFU)")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help=f"also profile {PROFILED_STEPS} steps per model into DIR/profile_<model>.txt (torch.profiler tables)",
    )
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.batch_size < 1:
        p.error("--steps and --batch-size must be >= 1 and --warmup >= 0")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("CUDA is not available here; use --device cpu (with --models tiny for a smoke test)")

    from jepa_core.registry import build_registry

    registry = build_registry()
    names = [args.preset] if args.preset else [m.strip() for m in args.models.split(",") if m.strip()]
    peak = peak_tflops(device, args.peak_tflops)
    results = []
    for name in names:
        try:
            result = bench_model(
                name,
                batch_size=args.batch_size,
                steps=args.steps,
                warmup=args.warmup,
                device=device,
                precision=args.precision,
                compile=args.compile,
                activation_checkpointing=args.activation_checkpointing,
                peak=peak,
                registry=registry,
                profile_dir=args.profile,
            )
        except torch.cuda.OutOfMemoryError:
            print(f"model={name} error=out_of_memory batch={args.batch_size}", flush=True)
            continue
        finally:
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
        print(result.line(), flush=True)
        results.append(result)
    if results:
        print("\n| model | batch | images/s | step ms | peak mem GiB | TFLOP/s | MFU |\n|---|---|---|---|---|---|---|")
        for r in results:
            mem = f"{r.peak_mem_gib:.1f}" if r.peak_mem_gib is not None else "n/a"
            mfu = f"{100 * r.mfu:.1f}%" if r.mfu is not None else "n/a"
            print(
                f"| {r.model} | {r.batch} | {r.images_per_s:.1f} | {r.step_ms:.1f} | {mem} "
                f"| {r.achieved_tflops:.1f} | {mfu} |"
            )
    return 0 if len(results) == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
