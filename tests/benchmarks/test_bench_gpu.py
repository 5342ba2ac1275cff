"""benchmarks/bench_gpu.py: the analytic FLOP counter against FlopCounterMode, and a CPU smoke run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from jepa_core.interfaces import MaskSet

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_gpu.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_gpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_models():
    from jepa_image.vit import VisionTransformer
    from jepa_vit.predictor import ViTPredictor

    torch.manual_seed(0)
    enc = VisionTransformer(img_size=64, patch_size=8, embed_dim=96, depth=2, num_heads=3)
    pred = ViTPredictor(encoder_dim=96, token_grid=enc.token_grid, num_heads=3, embed_dim=48, depth=2)
    for m in (*enc.modules(), *pred.modules()):
        if hasattr(m, "fused_attn"):
            m.fused_attn = False  # explicit QK^T / AV matmuls, which FlopCounterMode counts on CPU
    return enc, pred


def measured(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def masks(b: int = 2, nc: int = 20, m: int = 3, nt: int = 6) -> MaskSet:
    g = torch.Generator().manual_seed(0)
    perms = torch.stack([torch.randperm(64, generator=g) for _ in range(b)])
    return MaskSet(perms[:, :nc].sort(1).values, perms[:, nc : nc + m * nt].reshape(b, m, nt))


def test_encoder_and_predictor_forward_flops_match_flop_counter(bench):
    enc, pred = tiny_models()
    shape = bench.model_shape(enc, pred)
    x, mk = torch.randn(2, 3, 64, 64), masks()
    nc, (m, nt) = mk.context.shape[1], mk.targets.shape[1:]
    with torch.no_grad():
        full = measured(lambda: enc(x))
        ctx = measured(lambda: enc(x, mk.context))
        z = enc(x, mk.context)
        p = measured(lambda: pred(z, mk.context, mk.targets))
    assert full == pytest.approx(2 * bench.encoder_forward_flops(shape, 64), rel=0.02)
    assert ctx == pytest.approx(2 * bench.encoder_forward_flops(shape, nc), rel=0.02)
    assert p == pytest.approx(2 * bench.predictor_forward_flops(shape, nc, nt, m), rel=0.02)


def test_training_step_flops_match_flop_counter(bench):
    from jepa_core.losses import SmoothL1Loss
    from jepa_core.targets import EMATargetProvider

    enc, pred = tiny_models()
    target = EMATargetProvider(enc)
    x, mk = torch.randn(2, 3, 64, 64), masks()

    def step():
        loss = SmoothL1Loss()(pred(enc(x, mk.context), mk.context, mk.targets), target.targets(x, mk.targets))
        loss.backward()

    flops = bench.step_flops(bench.model_shape(enc, pred), nc=20, nt=6, m=3)
    assert measured(step) == pytest.approx(2 * flops.total, rel=0.03)
    assert flops.target > 0 and flops.context > 0 and flops.predictor > 0


def test_video_multi_mask_step_flops_match_flop_counter(bench):
    """Tubelets (Conv3d) and two mask sets: the target encoder once, context + predictor per set."""
    from jepa_core.losses import L1Loss
    from jepa_core.targets import EMATargetProvider
    from jepa_video.predictor import VideoPredictorConfig, build_video_predictor
    from jepa_video.video_vit import VideoVisionTransformer

    torch.manual_seed(0)
    enc = VideoVisionTransformer(img_size=32, patch_size=8, num_frames=4, embed_dim=96, depth=2, num_heads=3)  # 2x4x4
    pred = build_video_predictor(VideoPredictorConfig(embed_dim=48, depth=2), enc)
    for m in (*enc.modules(), *pred.modules()):
        if hasattr(m, "fused_attn"):
            m.fused_attn = False
    target = EMATargetProvider(enc)
    x = torch.randn(2, 3, 4, 32, 32)
    g = torch.Generator().manual_seed(0)
    sets = []
    for nc, nt in ((20, 10), (8, 22)):
        perms = torch.stack([torch.randperm(32, generator=g) for _ in range(2)])
        sets.append(MaskSet(perms[:, :nc].sort(1).values, perms[:, nc : nc + nt].reshape(2, 1, nt)))

    def step():
        targets = target.targets_many(x, [s.targets for s in sets])
        losses = [
            L1Loss()(pred(enc(x, s.context), s.context, s.targets, mask_index=i), t)
            for i, (s, t) in enumerate(zip(sets, targets, strict=True))
        ]
        torch.stack(losses).mean().backward()

    shape = bench.model_shape(enc, pred)
    assert shape.patch_flops_per_token == 2 * 3 * 2 * 8 * 8 * 96  # C * t * p^2 weights per output channel
    flops = bench.multi_step_flops(shape, [(20, 10, 1), (8, 22, 1)])
    assert measured(step) == pytest.approx(2 * flops.total, rel=0.03)
    assert flops.target == bench.step_flops(shape, 20, 10, 1).target  # counted once


def test_vith14_step_cost_matches_the_published_estimate(bench):
    shape = bench.ModelShape(256, 2 * 3 * 14 * 14 * 1280, 1280, 32, 4.0, 384, 12, 4.0)
    flops = bench.step_flops(shape, nc=69, nt=44, m=4)
    assert flops.total / 1e12 == pytest.approx(0.66, rel=0.03)
    assert flops.target / flops.total == pytest.approx(0.50, abs=0.03)
    assert flops.context / flops.total == pytest.approx(0.40, abs=0.03)
    assert flops.predictor / flops.total == pytest.approx(0.09, abs=0.02)


def test_peak_tflops_table_and_override(bench):
    assert bench.peak_tflops(torch.device("cpu"), None) is None
    assert bench.peak_tflops(torch.device("cpu"), 100.0) == 100.0
    assert bench.PEAK_BF16_TFLOPS["H100"] == 989.0 and bench.PEAK_BF16_TFLOPS["A100"] == 312.0


def test_cpu_smoke_run_prints_every_field(bench, capsys):
    rc = bench.main(
        [
            "--device",
            "cpu",
            "--models",
            "tiny",
            "--batch-size",
            "2",
            "--steps",
            "1",
            "--warmup",
            "1",
            "--precision",
            "fp32",
            "--peak-tflops",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    line = next(ln for ln in out.splitlines() if ln.startswith("model=tiny"))
    fields = dict(item.split("=", 1) for item in line.split())
    assert set(fields) == {
        "model",
        "device",
        "batch",
        "step_ms",
        "images_per_s",
        "peak_mem_gib",
        "gflop_per_image",
        "achieved_tflops",
        "peak_tflops",
        "mfu",
    }
    assert fields["device"] == "cpu" and fields["batch"] == "2" and fields["peak_mem_gib"] == "n/a"
    assert float(fields["images_per_s"]) > 0 and float(fields["gflop_per_image"]) > 0
    assert float(fields["mfu"]) == pytest.approx(float(fields["achieved_tflops"]), abs=1e-3)  # peak 1 TFLOP/s
    assert "| tiny | 2 |" in out


def test_cpu_smoke_run_of_a_video_preset(bench, capsys):
    rc = bench.main(
        [
            "--device",
            "cpu",
            "--models",
            "video/tiny",
            "--batch-size",
            "2",
            "--steps",
            "1",
            "--warmup",
            "1",
            "--precision",
            "fp32",
        ]
    )
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("model=video/tiny"))
    fields = dict(item.split("=", 1) for item in line.split())
    assert rc == 0 and float(fields["images_per_s"]) > 0 and float(fields["gflop_per_image"]) > 0


@pytest.mark.gpu
def test_gpu_run_reports_memory_and_mfu(bench, capsys):
    rc = bench.main(["--models", "tiny", "--batch-size", "8", "--steps", "2", "--warmup", "1", "--peak-tflops", "989"])
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("model=tiny"))
    fields = dict(item.split("=", 1) for item in line.split())
    assert rc == 0 and float(fields["peak_mem_gib"]) > 0 and 0 < float(fields["mfu"]) < 1


def run_device_script(out, **settings: str) -> None:
    """Run benchmarks/gpu_checks.sh on the CPU with ``settings`` as environment variables, output in ``out``."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "DEVICE": "cpu", "SKIP_INSTALL": "1", **settings}
    proc = subprocess.run(
        ["bash", str(SCRIPT.parent / "gpu_checks.sh")],
        cwd=SCRIPT.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_the_prepared_device_script_runs_its_steps_on_cpu(tmp_path):
    """benchmarks/gpu_checks.sh in its CPU smoke mode: every benchmark line lands in $OUT."""
    run_device_script(
        tmp_path,
        IMAGE_MODELS="tiny",
        VIDEO_MODELS="video/tiny",
        AUDIO_MODELS="",
        PROFILE_MODELS="tiny",
        COMPILE_MODELS="",
        BIG_BATCH_MODELS="tiny",
        BATCH="2",
        BIG_BATCH="4",
        VIDEO_BATCH="2",
        STEPS="1",
        WARMUP="0",
        PRECISION="fp32",
    )
    assert "model=tiny device=cpu" in (tmp_path / "bench_image.txt").read_text()
    assert "model=tiny device=cpu" in (tmp_path / "bench_image_big_batch.txt").read_text()
    assert not (tmp_path / "bench_image_compiled.txt").exists()  # compiling is the GPU run's (minutes on a CPU)
    assert "model=video/tiny device=cpu" in (tmp_path / "bench_video.txt").read_text()
    assert not (tmp_path / "bench_audio.txt").exists()  # an empty model list is skipped
    assert "by host time (self CPU)" in (tmp_path / "profile_tiny.txt").read_text()


def test_profile_writes_the_operator_tables_of_the_profiled_steps(bench, tmp_path, capsys):
    args = ["--device", "cpu", "--models", "video/tiny", "--batch-size", "2", "--steps", "1", "--warmup", "0"]
    rc = bench.main([*args, "--precision", "fp32", "--profile", str(tmp_path)])
    text = (tmp_path / "profile_video_tiny.txt").read_text()
    assert rc == 0 and text.startswith(f"{bench.PROFILED_STEPS} profiled steps, ")
    host = text.split("by host time (self CPU):", 1)[1]
    assert "aten::mm" in host or "aten::addmm" in host  # the step's matrix products were recorded
    assert "by GPU time" not in text  # no CUDA table on the CPU


def test_the_prepared_device_script_times_the_fashion_mnist_presets_on_cpu(tmp_path):
    """gpu_checks.sh with FMNIST set: each preset variant trains and its rate lands in $OUT."""
    from PIL import Image

    for k in range(2):
        folder = tmp_path / "fm" / "train" / f"{k}-class"
        folder.mkdir(parents=True)
        for i in range(10):
            Image.new("L", (28, 28), color=40 * k + 3 * i).save(folder / f"{i:05d}.png")
    out = tmp_path / "out"
    run_device_script(
        out,
        IMAGE_MODELS="",
        VIDEO_MODELS="",
        AUDIO_MODELS="",
        PROFILE_MODELS="",
        COMPILE_MODELS="",
        BIG_BATCH_MODELS="",
        FMNIST=str(tmp_path / "fm"),
        FMNIST_STEPS="1",
        FMNIST_SETS="--set train.batch_size=4 --set encoder.depth=1",
    )
    rates = (out / "fmnist_rates.txt").read_text()
    assert rates.count("trained on 4 images") == 3, rates  # three variants, one step of 4 images each
    assert "== lejepa_small_fast --set train.num_workers=8" in rates and "run image/small:" in rates
