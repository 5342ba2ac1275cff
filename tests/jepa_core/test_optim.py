"""AdamW parameter groups (no decay on biases and 1-D params) and the scheduled hyper-parameters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from jepa_core.config import OptimConfig
from jepa_core.data import build_loader
from jepa_core.optim import build_optimizer, param_groups, set_hyperparameters
from jepa_core.run import build_dataset, build_parts
from jepa_core.schedules import Schedules
from jepa_core.trainer import Trainer
from tests import toy_seq_plugin


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.norm = nn.LayerNorm(3)
        self.fc2 = nn.Linear(3, 2)
        self.scale = nn.Parameter(torch.ones(3))  # a 1-D parameter that is not called "bias"
        self.token = nn.Parameter(torch.zeros(1, 1, 3))  # N-d: decayed
        self.frozen = nn.Parameter(torch.ones(2, 2), requires_grad=False)


def _ids(params) -> set[int]:
    return {id(p) for p in params}


def test_param_groups_split():
    net = Net()
    decay, no_decay = param_groups([("net", net)])
    assert decay["apply_wd"] is True and no_decay["apply_wd"] is False and no_decay["weight_decay"] == 0.0
    assert _ids(decay["params"]) == _ids([net.fc1.weight, net.fc2.weight, net.token])
    assert _ids(no_decay["params"]) == _ids([net.fc1.bias, net.fc2.bias, net.norm.weight, net.norm.bias, net.scale])
    assert id(net.frozen) not in _ids(decay["params"]) | _ids(no_decay["params"])


def test_param_groups_over_several_modules_and_real_encoder():
    enc = toy_seq_plugin.SeqEncoder(toy_seq_plugin.SeqEncoderConfig(length=16, patch=4, width=8, depth=1))
    decay, no_decay = param_groups([("a", Net()), ("enc", enc)])
    names = {id(p): n for n, p in enc.named_parameters()}
    decayed = sorted(names[i] for i in _ids(decay["params"]) if i in names)
    not_decayed = sorted(names[i] for i in _ids(no_decay["params"]) if i in names)
    assert all(n.endswith("bias") or ".norm" in n or n.startswith("norm") for n in not_decayed)
    assert "norm.weight" in not_decayed and "embed.bias" in not_decayed
    assert all(n.endswith("weight") or n == "pos" for n in decayed) and "pos" in decayed
    assert len(decayed) + len(not_decayed) == len(names)


def test_build_optimizer_group_settings():
    optim = OptimConfig(start_lr=3e-4, weight_decay=0.05, betas=(0.8, 0.9), eps=1e-6)
    opt = build_optimizer([("net", Net())], optim)
    assert isinstance(opt, torch.optim.AdamW)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert all(g["lr"] == 3e-4 and g["betas"] == (0.8, 0.9) and g["eps"] == 1e-6 for g in opt.param_groups)


def test_set_hyperparameters_only_decays_decayed_group():
    opt = build_optimizer([("net", Net())], OptimConfig())
    set_hyperparameters(opt, lr=0.5, weight_decay=0.3)
    decay, no_decay = opt.param_groups
    assert decay["lr"] == no_decay["lr"] == 0.5
    assert decay["weight_decay"] == 0.3 and no_decay["weight_decay"] == 0.0


def test_weight_decay_really_skips_no_decay_params():
    """With zero gradients AdamW moves only by decoupled decay: decayed params shrink, others stay."""
    net = Net()
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(2.0)
    opt = build_optimizer([("net", net)], OptimConfig(), fused=False)
    set_hyperparameters(opt, lr=0.1, weight_decay=0.5)
    for p in net.parameters():
        if p.requires_grad:
            p.grad = torch.zeros_like(p)
    opt.step()
    assert torch.allclose(net.fc1.weight, torch.full_like(net.fc1.weight, 2.0 * (1 - 0.1 * 0.5)))
    assert torch.allclose(net.token, torch.full_like(net.token, 1.9))
    for p in (net.fc1.bias, net.fc2.bias, net.norm.weight, net.norm.bias, net.scale):
        assert torch.equal(p, torch.full_like(p, 2.0))


def test_trainer_step_applies_scheduled_hyperparameters(toy_registry):
    cfg = toy_seq_plugin.toy_config()
    parts = build_parts(cfg, toy_registry)
    loader = build_loader(
        build_dataset(cfg, toy_registry, "train"), parts.masker, grid=parts.encoder.token_grid, micro_batch=8, seed=0
    )
    sched = Schedules(
        lr=1e-2,
        start_lr=1e-3,
        final_lr=1e-5,
        warmup_steps=4,
        total_steps=10,
        weight_decay=0.04,
        final_weight_decay=0.4,
        ema_start=0.9,
        ema_end=1.0,
    )
    trainer = Trainer(parts.encoder, parts.predictor, parts.target, parts.loss, optim=cfg.optim, schedules=sched)
    batches = iter(loader)
    for step in range(3):
        out = trainer.train_step(next(batches))
        assert out.step == step
        assert out.lr == pytest.approx(sched.learning_rate(step)) and out.lr == pytest.approx(1e-3 + 9e-3 * step / 4)
        assert out.weight_decay == pytest.approx(sched.weight_decay_at(step))
        assert out.momentum == pytest.approx(sched.momentum(step))
        decay, no_decay = trainer.optimizer.param_groups
        assert decay["lr"] == no_decay["lr"] == out.lr
        assert decay["weight_decay"] == out.weight_decay and no_decay["weight_decay"] == 0.0
    assert trainer.step == 3
