"""The optimizers' parameter groups (no decay on biases and 1-D params; Muon for 2-D matrices),
Muon's update, and the scheduled hyper-parameters."""

from __future__ import annotations

import math

import attrs
import pytest
import torch
from torch import nn

from jepa_core.config import OptimConfig
from jepa_core.data import build_loader
from jepa_core.errors import ConfigError
from jepa_core.optim import (
    MuonAdamW,
    build_optimizer,
    check_optimizer_strategy,
    orthogonalize,
    orthogonalize_all,
    param_groups,
    set_hyperparameters,
)
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


# ------------------------------------------------------------------------------ Muon


def test_muon_puts_2d_matrices_in_muon_groups_and_the_rest_in_adamw_groups():
    net = Net()
    opt = build_optimizer([("net", net)], OptimConfig(optimizer="muon", start_lr=3e-4, weight_decay=0.05))
    assert isinstance(opt, MuonAdamW)
    muon, other, no_decay = opt.param_groups
    assert (muon["algorithm"], other["algorithm"], no_decay["algorithm"]) == ("muon", "adamw", "adamw")
    assert _ids(muon["params"]) == _ids([net.fc1.weight, net.fc2.weight])
    assert _ids(other["params"]) == _ids([net.token])
    assert _ids(no_decay["params"]) == _ids([net.fc1.bias, net.fc2.bias, net.norm.weight, net.norm.bias, net.scale])
    assert muon["weight_decay"] == other["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    set_hyperparameters(opt, lr=0.5, weight_decay=0.3)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.3, 0.3, 0.0]
    assert all(g["lr"] == 0.5 for g in opt.param_groups)


def test_muon_adamw_groups_step_exactly_as_torch_adamw():
    torch.manual_seed(0)
    a, b = Net(), Net()
    b.load_state_dict(a.state_dict())
    mine = MuonAdamW(
        [{"params": list(a.parameters()), "algorithm": "adamw"}], lr=1e-2, weight_decay=0.1, betas=(0.8, 0.95), eps=1e-6
    )
    ref = torch.optim.AdamW(list(b.parameters()), lr=1e-2, weight_decay=0.1, betas=(0.8, 0.95), eps=1e-6, foreach=False)
    for _ in range(5):
        x = torch.randn(6, 4)
        for net, opt in ((a, mine), (b, ref)):
            opt.zero_grad()
            (net.fc2(net.norm(net.fc1(x)) * net.scale).square().mean() + net.token.sum()).backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-7)


def test_muon_adamw_lr_scale_steps_the_adamw_share_at_the_scaled_lr_and_leaves_muon_alone():
    """``muon_adamw_lr_scale`` = 0.25: the AdamW groups step as torch's AdamW at a quarter of the
    lr (decoupled weight decay included), the Muon matrices exactly as without the scale."""
    torch.manual_seed(0)
    nets = [Net() for _ in range(3)]
    for net in nets[1:]:
        net.load_state_dict(nets[0].state_dict())
    cfg = OptimConfig(optimizer="muon", start_lr=1e-2, weight_decay=0.1, muon_adamw_lr_scale=0.25)
    scaled = build_optimizer([("net", nets[0])], cfg)
    plain = build_optimizer([("net", nets[1])], attrs.evolve(cfg, muon_adamw_lr_scale=1.0))
    ref_net = nets[2]
    not_decayed = [ref_net.fc1.bias, ref_net.fc2.bias, ref_net.norm.weight, ref_net.norm.bias, ref_net.scale]
    ref = torch.optim.AdamW(
        [{"params": not_decayed, "weight_decay": 0.0}, {"params": [ref_net.token], "weight_decay": 0.1}],
        lr=2.5e-3,
        foreach=False,
    )
    assert isinstance(scaled, MuonAdamW) and scaled.adamw_lr_scale == 0.25 and plain.adamw_lr_scale == 1.0
    names = [n for n, p in nets[0].named_parameters() if p.requires_grad]
    for _ in range(3):
        grads = {n: torch.randn_like(p) for n, p in nets[0].named_parameters() if p.requires_grad}
        for net, opt in ((nets[0], scaled), (nets[1], plain), (ref_net, ref)):
            for n, p in net.named_parameters():
                if n in grads:
                    p.grad = grads[n].clone()
            opt.step()
    a, b, c = (dict(net.named_parameters()) for net in nets)
    for name in names:
        if name in ("fc1.weight", "fc2.weight"):  # Muon's share
            assert torch.equal(a[name], b[name]) and not torch.equal(a[name], c[name])
        else:
            torch.testing.assert_close(a[name], c[name], rtol=1e-6, atol=1e-7)
            assert not torch.allclose(a[name], b[name])


def test_muon_step_is_the_scaled_orthogonalised_gradient():
    """Momentum 0 and no decay: the update is -lr * 0.2 * sqrt(max(m, n)) times a matrix close to
    U V^T of the gradient (singular values near 1, same singular vectors)."""
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(48, 16))
    grad = torch.randn(48, 16)
    opt = MuonAdamW([{"params": [w], "algorithm": "muon"}], lr=1e-2, momentum=0.0)
    before = w.detach().clone()
    w.grad = grad.clone()
    opt.step()
    update = (before - w.detach()) / (1e-2 * 0.2 * math.sqrt(48))
    s = torch.linalg.svdvals(update)
    assert s.min() > 0.6 and s.max() < 1.3
    u, _, vh = torch.linalg.svd(grad, full_matrices=False)
    cosine = (update * (u @ vh)).sum() / (update.norm() * (u @ vh).norm())
    assert cosine > 0.95
    assert torch.linalg.svdvals(grad).max() / torch.linalg.svdvals(grad).min() > 2  # the raw gradient is not


def test_orthogonalize_all_equals_each_matrix_orthogonalised_alone():
    """Matrices of one shape up to a transpose go through one batched iteration; each must come
    back in its own place and orientation with the numbers it gets alone."""
    torch.manual_seed(0)
    mats = [torch.randn(24, 8), torch.randn(8, 24), torch.randn(24, 8) * 5, torch.randn(6, 6), torch.randn(8, 16)]
    together = orthogonalize_all(mats)
    for m, t in zip(mats, together, strict=True):
        assert t.shape == m.shape and t.dtype == m.dtype
        torch.testing.assert_close(t, orthogonalize(m), rtol=0, atol=4e-3)  # bf16 rounding at most
    assert not torch.allclose(together[0], together[2], atol=0.1)  # distinct inputs stay distinct


def test_muon_steps_several_matrices_as_each_alone():
    """One optimizer over matrices of shared and distinct shapes moves each as an optimizer of
    that matrix alone does (momentum, Nesterov, weight decay and the shape's scale included)."""
    torch.manual_seed(0)
    shapes = [(16, 8), (8, 16), (16, 8), (5, 7)]
    init = [torch.randn(s) for s in shapes]
    grads = [[torch.randn(s) for s in shapes] for _ in range(3)]
    together = [nn.Parameter(w.clone()) for w in init]
    alone = [nn.Parameter(w.clone()) for w in init]
    opt = MuonAdamW([{"params": together, "algorithm": "muon"}], lr=1e-2, weight_decay=0.1)
    singles = [MuonAdamW([{"params": [p], "algorithm": "muon"}], lr=1e-2, weight_decay=0.1) for p in alone]
    for step_grads in grads:
        for p, q, g in zip(together, alone, step_grads, strict=True):
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        for single in singles:
            single.step()
    for p, q, w in zip(together, alone, init, strict=True):
        assert not torch.equal(p, w)
        torch.testing.assert_close(p, q, rtol=0, atol=1e-4)


def test_muon_weight_decay_is_decoupled_and_momentum_is_kept_in_the_state():
    w = nn.Parameter(torch.full((4, 3), 2.0))
    opt = MuonAdamW([{"params": [w], "algorithm": "muon"}], lr=0.1, weight_decay=0.5)
    w.grad = torch.zeros_like(w)
    opt.step()
    assert torch.allclose(w, torch.full_like(w, 2.0 * (1 - 0.1 * 0.5)))
    w.grad = torch.ones_like(w)
    opt.step()
    torch.testing.assert_close(opt.state[w]["momentum_buffer"], torch.full_like(w, 0.05))


def test_muon_refuses_other_shapes_and_unknown_algorithms():
    with pytest.raises(ValueError, match="2-D parameters only"):
        MuonAdamW([{"params": [nn.Parameter(torch.ones(3))], "algorithm": "muon"}], lr=1e-3)
    with pytest.raises(ValueError, match="algorithm must be 'muon' or 'adamw', got 'sgd'"):
        MuonAdamW([{"params": [nn.Parameter(torch.ones(3))], "algorithm": "sgd"}], lr=1e-3)
    with pytest.raises(ValueError, match="adamw_lr_scale must be > 0, got 0.0"):
        MuonAdamW([{"params": [nn.Parameter(torch.ones(3))], "algorithm": "adamw"}], lr=1e-3, adamw_lr_scale=0.0)


def test_muon_with_fsdp_is_a_config_error():
    check_optimizer_strategy(OptimConfig(optimizer="muon"), "ddp")
    check_optimizer_strategy(OptimConfig(), "fsdp")
    with pytest.raises(ConfigError, match="optim.optimizer='muon' is not supported with train.strategy='fsdp'"):
        check_optimizer_strategy(OptimConfig(optimizer="muon"), "fsdp")


def test_trainer_with_muon_trains_and_its_state_round_trips(toy_registry):
    cfg = toy_seq_plugin.toy_config()
    cfg = attrs.evolve(cfg, optim=attrs.evolve(cfg.optim, optimizer="muon"))
    parts = build_parts(cfg, toy_registry)
    loader = build_loader(
        build_dataset(cfg, toy_registry, "train"), parts.masker, grid=parts.encoder.token_grid, micro_batch=8, seed=0
    )
    sched = Schedules(
        lr=1e-2,
        start_lr=1e-2,
        final_lr=1e-2,
        warmup_steps=0,
        total_steps=10,
        weight_decay=0.0,
        final_weight_decay=0.0,
        ema_start=0.9,
        ema_end=0.9,
    )
    trainer = Trainer(parts.encoder, parts.predictor, parts.target, parts.loss, optim=cfg.optim, schedules=sched)
    assert isinstance(trainer.optimizer, MuonAdamW)
    batches = iter(loader)
    losses = [float(trainer.train_step(next(batches)).loss) for _ in range(4)]
    assert all(math.isfinite(v) for v in losses)
    state = trainer.optimizer.state_dict()
    muon_param = trainer.optimizer.param_groups[0]["params"][0]
    assert "momentum_buffer" in trainer.optimizer.state[muon_param]
    fresh = MuonAdamW(
        [
            {**{k: v for k, v in g.items() if k != "params"}, "params": g["params"]}
            for g in trainer.optimizer.param_groups
        ],
        lr=1e-2,
    )
    fresh.load_state_dict(state)
    torch.testing.assert_close(
        fresh.state[muon_param]["momentum_buffer"], trainer.optimizer.state[muon_param]["momentum_buffer"]
    )
