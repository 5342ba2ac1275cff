"""Smooth-L1, L2 and L1 losses on hand-made tensors."""

from __future__ import annotations

import pytest
import torch

from jepa_core.losses import CosineLoss, L1Config, L1Loss, L2Config, L2Loss, SmoothL1Config, SmoothL1Loss

# differences 0, 0.5, 2, -3 laid out as [B*M=2, Nt=1, D=2]
PRED = torch.tensor([[[0.0, 0.5]], [[2.0, -3.0]]])
TARGET = torch.zeros(2, 1, 2)


def test_smooth_l1_beta_one():
    # |d| < 1: 0.5 d^2 ; |d| >= 1: |d| - 0.5   ->  0, 0.125, 1.5, 2.5
    assert SmoothL1Loss(beta=1.0)(PRED, TARGET).item() == pytest.approx((0 + 0.125 + 1.5 + 2.5) / 4)


def test_smooth_l1_beta_two():
    # |d| < 2: 0.5 d^2 / 2 ; |d| >= 2: |d| - 1   ->  0, 0.0625, 1, 2
    assert SmoothL1Loss(beta=2.0)(PRED, TARGET).item() == pytest.approx((0 + 0.0625 + 1 + 2) / 4)


def test_smooth_l1_is_symmetric_and_shift_invariant():
    loss = SmoothL1Loss()
    shift = torch.full_like(PRED, 7.0)
    assert loss(PRED, TARGET).item() == pytest.approx(loss(TARGET, PRED).item())
    assert loss(PRED + shift, TARGET + shift).item() == pytest.approx(loss(PRED, TARGET).item())


def test_l2_is_mean_squared_error():
    assert L2Loss()(PRED, TARGET).item() == pytest.approx((0 + 0.25 + 4 + 9) / 4)
    assert L2Loss()(torch.ones(3, 2, 4), torch.ones(3, 2, 4)).item() == 0.0


def test_l2_gradient():
    pred = PRED.clone().requires_grad_(True)
    L2Loss()(pred, TARGET).backward()
    assert torch.allclose(pred.grad, 2 * PRED / PRED.numel())


def test_low_precision_inputs_give_float32_loss():
    out = SmoothL1Loss()(PRED.bfloat16(), TARGET.bfloat16())
    assert out.dtype == torch.float32 and out.item() == pytest.approx(1.03125)


def test_registered_losses(toy_registry):
    smooth = toy_registry.get("loss", "smooth_l1").build(SmoothL1Config(beta=2.0))
    assert smooth(PRED, TARGET).item() == pytest.approx(0.765625)
    l2 = toy_registry.get("loss", "l2").build(L2Config())
    assert l2(PRED, TARGET).item() == pytest.approx(3.3125)
    l1 = toy_registry.get("loss", "l1").build(L1Config())
    assert l1(PRED, TARGET).item() == pytest.approx(1.375)


def test_l1_is_mean_absolute_error_with_sign_gradient():
    assert L1Loss()(PRED, TARGET).item() == pytest.approx((0 + 0.5 + 2 + 3) / 4)
    pred = PRED.clone().requires_grad_(True)
    L1Loss()(pred, TARGET).backward()
    assert torch.equal(pred.grad, torch.sign(PRED) / PRED.numel())


def test_beta_must_be_positive():
    with pytest.raises(ValueError, match="beta must be > 0"):
        SmoothL1Config(beta=0.0)


def test_cosine_is_two_minus_two_cos_per_token_and_ignores_scale():
    pred = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # [1, 2, 2]
    target = torch.tensor([[[3.0, 0.0], [5.0, 0.0]]])  # same direction; orthogonal
    assert CosineLoss()(pred, target).item() == pytest.approx((0.0 + 2.0) / 2)
    assert CosineLoss()(pred * 7.0, target).item() == pytest.approx(1.0)
    p = pred.clone().requires_grad_(True)
    CosineLoss()(p, target).backward()
    assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
