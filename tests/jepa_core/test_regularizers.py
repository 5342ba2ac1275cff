"""jepa_core.regularizers: VICReg and SIGReg values, gathering over processes, trainer wiring, config."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import attrs
import numpy as np
import pytest
import torch

from jepa_core.config import apply_overrides
from jepa_core.dist import worker_process_group
from jepa_core.errors import ConfigError, RegistryError
from jepa_core.regularizers import (
    EmpiricalCharacteristicFunction,
    NoRegularizer,
    SIGReg,
    SIGRegConfig,
    VICReg,
    VICRegConfig,
    is_active,
    knot_waves,
    regularize,
)
from tests import toy_seq_plugin

# ----------------------------------------------------------------------- SIGReg values


def _epps_pulley_by_quadrature(x: np.ndarray, t_max: float = 3.0) -> float:
    """The statistic of one slice by brute-force numerical integration over [-t_max, t_max]."""
    t = np.linspace(-t_max, t_max, 20001)
    ecf_re = np.cos(np.outer(x, t)).mean(0)
    ecf_im = np.sin(np.outer(x, t)).mean(0)
    err = (ecf_re - np.exp(-(t**2) / 2)) ** 2 + ecf_im**2
    return len(x) * np.trapezoid(err * np.exp(-(t**2) / 2), t)


def test_sigreg_equals_the_epps_pulley_integral_on_each_slice():
    torch.manual_seed(0)
    z = torch.randn(64, 5) * torch.tensor([0.3, 1.0, 2.0, 1.0, 0.5]) + 0.2
    reg = SIGReg(SIGRegConfig(num_slices=8, knots=801))  # a fine grid: the trapezoid is then exact
    directions = reg.directions(5, step=3, device=torch.device("cpu"))
    expected = np.mean([_epps_pulley_by_quadrature((z @ directions[:, k]).double().numpy()) for k in range(8)])
    assert float(reg(z, step=3)) == pytest.approx(expected, rel=1e-4)
    # The default 17 knots over [0, 3] stays close to the exact integral.
    coarse = SIGReg(SIGRegConfig(num_slices=8))
    assert float(coarse(z, step=3)) == pytest.approx(expected, rel=0.05)


def test_empirical_characteristic_function_values_and_gradients():
    torch.manual_seed(0)
    proj = torch.randn(12, 5, dtype=torch.float64, requires_grad=True)
    t = torch.linspace(0.0, 3.0, 7, dtype=torch.float64)
    re, im = EmpiricalCharacteristicFunction.apply(proj, t)
    xt = proj.detach().unsqueeze(-1) * t  # [N, K, T], the direct form
    torch.testing.assert_close(re, torch.cos(xt).mean(0))
    torch.testing.assert_close(im, torch.sin(xt).mean(0))
    assert torch.autograd.gradcheck(lambda p: EmpiricalCharacteristicFunction.apply(p, t), (proj,))


@pytest.mark.parametrize("knots", [[0.0, 0.1875, 0.375, 0.5625], [0.0, 0.5, 1.5], [0.25, 0.5, 0.75], [0.0]])
def test_knot_waves_give_each_knots_cosine_and_sine(knots: list[float]) -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 32) * 3  # [N, K], angles up to about 30 radians at t = 3
    for t, (cos, sin) in zip(knots, knot_waves(x, knots), strict=True):
        torch.testing.assert_close(cos, torch.cos(x * t), atol=1e-6, rtol=0)
        torch.testing.assert_close(sin, torch.sin(x * t), atol=1e-6, rtol=0)


def test_sigregs_knots_take_the_angle_addition_within_float_rounding(monkeypatch) -> None:
    torch.manual_seed(0)
    x = torch.randn(256, 128) * 3
    knots = SIGReg().t.tolist()  # 17 evenly spaced knots over [0, 3]
    calls: list[int] = []
    real_cos = torch.cos
    monkeypatch.setattr(torch, "cos", lambda v: calls.append(1) or real_cos(v))
    waves = list(knot_waves(x, knots))
    monkeypatch.undo()
    assert len(calls) == 1  # one cosine for all 17 knots
    exact = [torch.cos(x.double() * t) for t in knots]  # fp64: the direct fp32 form rounds too
    ours = max(float((c.double() - e).abs().max()) for e, (c, _) in zip(exact, waves, strict=True))
    direct = max(float((torch.cos(x * t).double() - e).abs().max()) for t, e in zip(knots, exact, strict=True))
    assert ours < 4e-6 and ours < 3 * direct


def test_sigreg_under_bf16_autocast_takes_the_characteristic_function_in_fp32():
    torch.manual_seed(0)
    reg = SIGReg(SIGRegConfig(num_slices=64))
    z = torch.randn(128, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = reg(z, step=1)
        proj = z @ reg.directions(16, 1, z.device)  # bf16: the product autocasts
    xt = proj.float().unsqueeze(-1) * reg.t  # [N, K, T] in fp32, the direct form
    err = (torch.cos(xt).mean(0) - reg.normal_cf).square() + torch.sin(xt).mean(0).square()
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, (128 * (err * reg.quadrature).sum(-1)).mean())


@pytest.mark.gpu
def test_empirical_characteristic_function_on_a_gpu_equals_the_cpu_one():
    torch.manual_seed(0)
    proj = torch.randn(12, 5, dtype=torch.float64, requires_grad=True)
    t = torch.linspace(0.0, 3.0, 7, dtype=torch.float64)
    on_gpu = proj.detach().cuda().requires_grad_()
    for a, b in zip(
        EmpiricalCharacteristicFunction.apply(proj, t),
        EmpiricalCharacteristicFunction.apply(on_gpu, t.cuda()),
        strict=True,
    ):
        torch.testing.assert_close(a, b.cpu())
    assert torch.autograd.gradcheck(lambda p: EmpiricalCharacteristicFunction.apply(p, t.cuda()), (on_gpu,))


def test_sigreg_is_about_one_for_gaussian_samples_and_large_for_collapse():
    torch.manual_seed(0)
    reg = SIGReg(SIGRegConfig(num_slices=256))
    gaussian = float(reg(torch.randn(2048, 32), step=0))
    assert 0.5 < gaussian < 1.6  # E[statistic] ~ 1.06 for N(0, 1) slices
    assert float(reg(torch.zeros(256, 32), step=0)) > 50  # every sample identical
    assert float(reg(torch.randn(256, 1) * torch.ones(1, 32), step=0)) > 5  # rank-one: dimensional collapse
    assert float(reg(3 * torch.randn(2048, 32), step=0)) > 10 * gaussian  # right shape, wrong scale


def test_sigreg_slices_are_unit_redrawn_per_step_and_shared_by_ranks():
    reg = SIGReg(SIGRegConfig(num_slices=16))
    a = reg.directions(8, step=5, device=torch.device("cpu"))
    assert a.shape == (8, 16)
    torch.testing.assert_close(a.norm(dim=0), torch.ones(16))
    assert torch.equal(a, SIGReg(SIGRegConfig(num_slices=16)).directions(8, step=5, device=torch.device("cpu")))
    assert not torch.equal(a, reg.directions(8, step=6, device=torch.device("cpu")))
    z = torch.randn(4, 8)
    state = torch.get_rng_state()
    reg(z, step=1)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is not touched


def test_sigreg_is_invariant_to_sample_order():
    z = torch.randn(32, 6)
    reg = SIGReg(SIGRegConfig(num_slices=32))
    torch.testing.assert_close(reg(z, step=2), reg(z[torch.randperm(32)], step=2))


# ----------------------------------------------------------------------- VICReg values


def test_vicreg_terms_match_their_definition():
    torch.manual_seed(0)
    z = torch.randn(50, 4) * torch.tensor([0.5, 1.0, 2.0, 0.1])
    z[:, 1] += 0.7 * z[:, 0]
    cov = torch.cov(z.T)  # unbiased
    std = torch.sqrt(torch.diagonal(cov) + 1e-4)
    variance = torch.relu(1 - std).mean()
    off = cov - torch.diag(torch.diagonal(cov))
    covariance = off.pow(2).sum() / 4
    reg = VICReg(VICRegConfig(variance_weight=2.0, covariance_weight=0.5))
    torch.testing.assert_close(reg(z, step=0), 2.0 * variance + 0.5 * covariance)
    assert float(VICReg()(torch.randn(4096, 8), step=0)) < 0.05  # white features: nothing to penalise
    assert float(VICReg()(torch.zeros(64, 8), step=0)) == pytest.approx(0.99)  # collapse: std 0


def test_regularize_applies_to_pooled_tokens_or_both():
    tokens = torch.randn(4, 6, 3)
    for apply_to, expected in (
        ("pooled", VICReg()(tokens.mean(1), step=0)),
        ("tokens", VICReg()(tokens.reshape(24, 3), step=0)),
        ("both", VICReg()(tokens.mean(1), step=0) + VICReg()(tokens.reshape(24, 3), step=0)),
    ):
        torch.testing.assert_close(regularize(VICReg(VICRegConfig(apply_to=apply_to)), tokens, step=0), expected)


def test_is_active_only_for_a_real_regularizer_with_weight():
    assert not is_active(None) and not is_active(NoRegularizer())
    assert not is_active(VICReg(VICRegConfig(weight=0.0)))
    assert is_active(SIGReg(SIGRegConfig(weight=0.1)))


# --------------------------------------------------------------- gathered statistics


def _gather_worker(rank: int, init_file: str, out_dir: str, z_full: torch.Tensor) -> None:
    with worker_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2):
        half = z_full.chunk(2)[rank].clone().requires_grad_(True)
        results = {}
        for name, reg in (("vicreg", VICReg()), ("sigreg", SIGReg(SIGRegConfig(num_slices=32)))):
            half.grad = None
            value = reg(half, step=7)
            value.backward()
            results[name] = (value.detach(), half.grad.clone())
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
        torch.distributed.barrier()


def test_statistics_are_gathered_over_two_processes(tmp_path):
    """Two gloo ranks with half a batch each: the value equals one process on the whole batch,
    and each rank's gradient is world_size x the whole-batch gradient of its samples (DDP then
    averages the two ranks' parameter gradients, which gives exactly the whole-batch gradient)."""
    torch.manual_seed(0)
    z = torch.randn(16, 6) * 0.5 + 0.1
    torch.multiprocessing.spawn(
        _gather_worker,
        args=(str(tmp_path / "init"), str(tmp_path), z),
        nprocs=2,
        join=True,
    )
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for name, reg in (("vicreg", VICReg()), ("sigreg", SIGReg(SIGRegConfig(num_slices=32)))):
        full = z.clone().requires_grad_(True)
        value = reg(full, step=7)
        value.backward()
        for r, (rank_value, rank_grad) in enumerate(results[name] for results in ranks):
            torch.testing.assert_close(rank_value, value.detach(), rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(rank_grad, 2 * full.grad.chunk(2)[r], rtol=1e-4, atol=1e-6)


# --------------------------------------------------------------------- in the trainer


def _toy_trainer(registry, *overrides: str):
    from jepa_core.run import build_parts
    from jepa_core.schedules import Schedules
    from jepa_core.trainer import Trainer

    cfg = apply_overrides(toy_seq_plugin.toy_config(), list(overrides), registry)
    parts = build_parts(cfg, registry)
    trainer = Trainer(
        parts.encoder,
        parts.predictor,
        parts.target,
        parts.loss,
        optim=cfg.optim,
        schedules=Schedules.from_config(cfg.optim, epochs=1, iterations_per_epoch=8),
        regularizer=parts.regularizer,
    )
    return cfg, parts, trainer


def _batches(registry, cfg, parts, n: int = 3):
    from jepa_core.data import build_loader
    from jepa_core.run import build_dataset

    loader = build_loader(
        build_dataset(cfg, registry, "train"), parts.masker, grid=parts.encoder.token_grid, micro_batch=8, seed=0
    )
    return list(itertools.islice(loader, n))


def test_no_regularizer_leaves_training_bit_identical(toy_registry):
    cfg, parts, plain = _toy_trainer(toy_registry)
    _, _, with_none = _toy_trainer(toy_registry, "regularizer.name=none")
    assert with_none.regularizer is None and not plain.context_path.return_context
    batches = _batches(toy_registry, cfg, parts)
    a = [plain.train_step(b) for b in batches]
    b = [with_none.train_step(b) for b in batches]
    assert all(torch.equal(x.loss, y.loss) and not x.parts for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("name", ["vicreg", "sigreg"])
def test_loss_is_prediction_plus_weighted_regularizer(toy_registry, name):
    cfg, parts, trainer = _toy_trainer(toy_registry, f"regularizer.name={name}", "regularizer.weight=0.25")
    batch = _batches(toy_registry, cfg, parts, 1)[0]
    out = trainer.compute_loss_parts(batch)
    assert set(out) == {"loss", "loss_pred", "loss_reg"}
    torch.testing.assert_close(out["loss"], out["loss_pred"] + 0.25 * out["loss_reg"])
    _, _, plain = _toy_trainer(toy_registry)
    torch.testing.assert_close(out["loss_pred"], plain.compute_loss(batch))  # same networks, same prediction loss
    context = trainer.encoder(batch.inputs, batch.masks.context)
    torch.testing.assert_close(out["loss_reg"], parts.regularizer(context.mean(1), step=0))
    step = trainer.train_step(batch)
    assert set(step.parts) == {"loss_pred", "loss_reg"} and all(torch.isfinite(v) for v in step.parts.values())


def test_regularizer_gradient_reaches_the_context_encoder(toy_registry):
    cfg, parts, trainer = _toy_trainer(toy_registry, "regularizer.name=vicreg", "regularizer.weight=1.0")
    batch = _batches(toy_registry, cfg, parts, 1)[0]
    reg_only = trainer.compute_loss_parts(batch)["loss_reg"]
    reg_only.backward()
    assert trainer.encoder.embed.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in trainer.predictor.parameters())  # the regulariser sees the encoder only


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("value", ["-0.1", "nan", "inf"])
def test_bad_weight_is_one_config_error(toy_registry, value):
    cfg = apply_overrides(toy_seq_plugin.toy_config(), ["regularizer.name=sigreg"], toy_registry)
    with pytest.raises(ConfigError, match=r"regularizer.weight"):
        apply_overrides(cfg, [f"regularizer.weight={value}"], toy_registry)


def test_unknown_regularizer_names_the_valid_ones(toy_registry):
    with pytest.raises(RegistryError, match=r"unknown regularizer 'barlow'; valid regularizers: none, sigreg, vicreg"):
        apply_overrides(toy_seq_plugin.toy_config(), ["regularizer.name=barlow"], toy_registry)


def test_cli_exits_2_on_bad_regularizer_settings(tmp_path, capsys):
    from jepa_core.cli import main

    base = [
        "-p",
        "tests.toy_seq_plugin",
        "--no-autoload",
        "train",
        "--plugin",
        "toyseq",
        "--preset",
        "tiny",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(base + ["--set", "regularizer.name=sigreg", "--set", "regularizer.weight=-1"]) == 2
    assert "regularizer.weight" in capsys.readouterr().err
    assert main(base + ["--set", "regularizer.name=whitening"]) == 2
    assert "unknown regularizer 'whitening'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before any work


def test_old_config_files_without_a_regularizer_section_still_load(toy_registry):
    from jepa_core.config import from_dict, to_dict

    data = to_dict(toy_seq_plugin.toy_config())
    assert data["regularizer"] == {"name": "none"}
    del data["regularizer"]
    assert from_dict(data, toy_registry).regularizer.name == "none"


def test_regularizer_options_round_trip_through_the_file_form(toy_registry):
    from jepa_core.config import from_dict, to_dict

    cfg = apply_overrides(
        toy_seq_plugin.toy_config(),
        [
            "regularizer.name=sigreg",
            "regularizer.weight=0.05",
            "regularizer.num_slices=256",
            "regularizer.apply_to=both",
        ],
        toy_registry,
    )
    again = from_dict(to_dict(cfg), toy_registry)
    assert again == cfg and again.regularizer.options == SIGRegConfig(weight=0.05, num_slices=256, apply_to="both")
    assert attrs.asdict(again.regularizer.options)["knots"] == 17 and math.isclose(again.regularizer.options.t_max, 3.0)


@pytest.mark.parametrize("reg", [VICReg(), SIGReg(SIGRegConfig(num_slices=16))], ids=["vicreg", "sigreg"])
@pytest.mark.parametrize("shape", [(16,), (0, 16), (2, 3, 16)])
def test_regularisers_name_embeddings_of_the_wrong_shape(reg, shape):
    with pytest.raises(ValueError, match=rf"takes embeddings \[N, D\] with N >= 1, got shape {re.escape(str(shape))}$"):
        reg(torch.zeros(shape), step=0)
