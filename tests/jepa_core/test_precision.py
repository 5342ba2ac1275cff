"""Mixed precision and activation checkpointing on a tiny I-JEPA ViT (depth 1, 32 px, patch 8)."""

from __future__ import annotations

import pytest
import torch

from jepa_core.config import OptimConfig, TrainConfig
from jepa_core.data import Batch
from jepa_core.dist import DistInfo
from jepa_core.errors import ConfigError
from jepa_core.interfaces import MaskSet
from jepa_core.losses import SmoothL1Loss
from jepa_core.parallel import apply_parallelism
from jepa_core.schedules import Schedules
from jepa_core.targets import EMATargetProvider
from jepa_core.trainer import Trainer


def tiny_parts(seed: int = 0):
    from jepa_image.vit import ViTConfig, build_vit
    from jepa_vit.predictor import PredictorConfig, build_predictor

    torch.manual_seed(seed)
    enc = build_vit(ViTConfig(size="tiny", img_size=32, patch_size=8, depth=1, embed_dim=64, num_heads=2))
    pred = build_predictor(PredictorConfig(embed_dim=32, depth=1), enc)
    return enc, pred, EMATargetProvider(enc)


def tiny_trainer(precision: str = "fp32", *, activation_checkpointing: bool = False, seed: int = 0) -> Trainer:
    enc, pred, target = tiny_parts(seed)
    cfg = TrainConfig(precision=precision, activation_checkpointing=activation_checkpointing)
    plan = apply_parallelism(enc, pred, target, cfg, torch.device("cpu"), DistInfo())
    optim = OptimConfig(lr=1e-3, start_lr=1e-3, warmup_epochs=0, ema_start=0.99)
    sched = Schedules.from_config(optim, epochs=1, iterations_per_epoch=10)
    return Trainer(enc, pred, target, SmoothL1Loss(), optim=optim, schedules=sched, precision=precision, wrap=plan.wrap)


def tiny_batch(n: int, seed: int = 0) -> Batch:
    """``n`` random 32x32 images on a 4x4 token grid; every sample has its own masks."""
    g = torch.Generator().manual_seed(seed)
    perms = torch.stack([torch.randperm(16, generator=g) for _ in range(n)])  # [n, 16]
    context = perms[:, :8].sort(dim=1).values  # [n, 8]
    targets = perms[:, 8:14].reshape(n, 2, 3)  # [n, M=2, Nt=3]
    return Batch(torch.randn(n, 3, 32, 32, generator=g), MaskSet(context, targets), torch.zeros(n, dtype=torch.long))


def loss_and_grads(trainer: Trainer, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    trainer.context_path.zero_grad(set_to_none=True)
    loss = trainer.compute_loss(batch)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in trainer.context_path.named_parameters()}


def test_bf16_step_is_finite_and_close_to_but_not_equal_fp32():
    batch = tiny_batch(4)
    fp32 = tiny_trainer("fp32").train_step(batch)
    bf16_trainer = tiny_trainer("bf16")
    bf16 = bf16_trainer.train_step(batch)
    assert torch.isfinite(bf16.loss) and torch.isfinite(bf16.grad_norm)
    assert bf16.loss.dtype == torch.float32  # the loss is computed in fp32 from bf16 activations
    assert bf16.loss.item() != fp32.loss.item()  # the matmuls really ran in bf16
    assert abs(bf16.loss.item() - fp32.loss.item()) < 0.05 * abs(fp32.loss.item())
    assert not bf16_trainer.scaler.is_enabled()  # bf16 needs no loss scaling
    assert all(p.dtype == torch.float32 for p in bf16_trainer.context_path.parameters())  # fp32 master weights


def test_bf16_autocast_runs_linear_layers_in_bf16():
    trainer = tiny_trainer("bf16")
    seen = []
    hook = trainer.encoder.blocks[0].mlp.fc1.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    trainer.compute_loss(tiny_batch(2))
    hook.remove()
    assert seen == [torch.bfloat16]


def test_fp16_uses_a_grad_scaler_and_steps():
    trainer = tiny_trainer("fp16")
    assert trainer.scaler.is_enabled()
    before = trainer.encoder.blocks[0].attn.qkv.weight.detach().clone()
    out = trainer.train_step(tiny_batch(4))
    assert torch.isfinite(out.loss)
    assert trainer.scaler.get_scale() > 0
    assert not torch.equal(before, trainer.encoder.blocks[0].attn.qkv.weight)


def test_fp16_with_fsdp_is_refused():
    enc, pred, target = tiny_parts()
    cfg = TrainConfig(precision="fp16", strategy="fsdp")
    with pytest.raises(ConfigError, match="train.precision='fp16' is not supported with train.strategy='fsdp'"):
        apply_parallelism(enc, pred, target, cfg, torch.device("cpu"), DistInfo(0, 2, 0))


def test_activation_checkpointing_gives_same_loss_and_gradients(monkeypatch):
    import jepa_vit.vit as vit

    batch = tiny_batch(4)
    loss, grads = loss_and_grads(tiny_trainer("fp32"), batch)
    calls = []
    real = vit.checkpoint
    monkeypatch.setattr(vit, "checkpoint", lambda *a, **k: calls.append(1) or real(*a, **k))
    ckpt_trainer = tiny_trainer("fp32", activation_checkpointing=True)
    ckpt_loss, ckpt_grads = loss_and_grads(ckpt_trainer, batch)
    assert len(calls) == 2  # one encoder block + one predictor block were checkpointed
    torch.testing.assert_close(ckpt_loss, loss)
    assert ckpt_grads.keys() == grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(ckpt_grads[name], grad, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.gpu
def test_gpu_bf16_compile_and_checkpointing_step():
    from jepa_image.vit import ViTConfig, build_vit
    from jepa_vit.predictor import PredictorConfig, build_predictor

    device = torch.device("cuda")
    torch.manual_seed(0)
    enc = build_vit(ViTConfig(size="tiny", img_size=32, patch_size=8, depth=2))
    pred = build_predictor(PredictorConfig(embed_dim=96, depth=1), enc)  # 3 heads, as the encoder
    target = EMATargetProvider(enc)
    cfg = TrainConfig(precision="bf16", compile=True, activation_checkpointing=True)
    plan = apply_parallelism(enc, pred, target, cfg, device, DistInfo())
    optim = OptimConfig()
    trainer = Trainer(
        enc,
        pred,
        target,
        SmoothL1Loss(),
        optim=optim,
        device=device,
        precision="bf16",
        schedules=Schedules.from_config(optim, epochs=1, iterations_per_epoch=10),
        wrap=plan.wrap,
    )
    assert trainer.optimizer.defaults.get("fused")  # fused AdamW on CUDA
    batch = tiny_batch(8)
    losses = [trainer.train_step(batch).loss for _ in range(3)]
    assert all(torch.isfinite(torch.stack(losses)))


def test_fp16_on_a_cpu_trains_and_says_it_is_slow(tmp_path):
    import io

    import attrs

    from jepa_core.registry import build_registry
    from jepa_core.run import train_run
    from tests import toy_seq_plugin

    registry = build_registry(autoload=False, plugins=[toy_seq_plugin])
    for precision, noted in (("fp16", True), ("fp32", False)):
        cfg = toy_seq_plugin.toy_config()
        train = dict(max_steps=1, device="cpu", precision=precision, out_dir=str(tmp_path / precision))
        stream = io.StringIO()
        assert train_run(attrs.evolve(cfg, train=attrs.evolve(cfg.train, **train)), registry, stream=stream).steps == 1
        assert ("train.precision=fp16 on a CPU has no fast half-precision kernels" in stream.getvalue()) == noted
