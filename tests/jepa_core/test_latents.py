"""jepa_core.latents: principal-plane pictures of pooled features, and the online evaluation's use of them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from jepa_core.config import EvalConfig
from jepa_core.errors import OutputError
from jepa_core.latents import (
    AXIS_COLOUR,
    BACKGROUND,
    CLASS_COLOURS,
    latent_picture,
    picture_path,
    principal_plane,
    write_png,
)
from jepa_core.monitors import UNUSED_COLOUR
from jepa_core.online_eval import OnlineEvaluator, choose_subsets
from tests.jepa_core.test_monitors import FakeWriter
from tests.jepa_core.test_online_eval import _labelled, _MeanEncoder


def _drawn(picture: torch.Tensor) -> torch.Tensor:
    """``[H, W]`` bool: pixels that are neither background nor the axis cross."""
    grey = (picture == picture[0]).all(dim=0) & ((picture[0] == BACKGROUND) | (picture[0] == AXIS_COLOUR))
    return ~grey


def _colour_at(picture: torch.Tensor, mask: torch.Tensor) -> set[tuple[int, ...]]:
    return {tuple(c) for c in picture.permute(1, 2, 0)[mask].tolist()}


# ------------------------------------------------------------------ the plane


def test_principal_plane_finds_the_two_widest_directions_and_their_share():
    g = torch.Generator().manual_seed(0)
    centred = torch.randn(400, 2, generator=g)
    a, b = (torch.linalg.qr(centred - centred.mean(dim=0)).Q * 20).T  # zero mean, uncorrelated, variance 1
    basis = torch.linalg.qr(torch.randn(8, 8, generator=g)).Q  # orthonormal columns
    x = 10 * a[:, None] * basis[:, 0] + 3 * b[:, None] * basis[:, 1] + 0.01 * torch.randn(400, 8, generator=g)
    plane = principal_plane(x + 5.0)  # an offset changes nothing: the features are centred
    assert torch.allclose(plane.coords[:, 0].abs(), 10 * a.abs(), atol=0.1)
    assert torch.allclose(plane.coords[:, 1].abs(), 3 * b.abs(), atol=0.1)
    assert plane.variance_share > 0.999
    iso = principal_plane(torch.randn(2000, 64, generator=g))
    assert 2 / 64 < iso.variance_share < 0.1  # isotropic: two axes of 64 hold little more than 2/64


@pytest.mark.parametrize("n, d", [(300, 16), (12, 64)], ids=["more-samples", "more-dims"])
def test_principal_plane_equals_the_svd_projection_up_to_sign(n, d):
    g = torch.Generator().manual_seed(4)
    x = torch.randn(n, d, generator=g) * torch.linspace(3, 0.1, d)  # distinct variances
    centred = (x - x.mean(dim=0)).double()
    u, sv, _ = torch.linalg.svd(centred, full_matrices=False)
    plane = principal_plane(x)
    assert torch.allclose(plane.coords.abs(), (u[:, :2] * sv[:2]).abs().float(), atol=1e-4)
    assert plane.variance_share == pytest.approx(float((sv[:2] ** 2).sum() / (sv**2).sum()), rel=1e-9)


def test_principal_plane_axes_have_a_fixed_sign():
    x = torch.randn(300, 16, generator=torch.Generator().manual_seed(1))
    assert torch.equal(principal_plane(x).coords, principal_plane(x.clone()).coords)
    assert torch.allclose(principal_plane(-x).coords, -principal_plane(x).coords, atol=1e-5)


def test_principal_plane_of_one_feature_or_constant_features():
    line = principal_plane(torch.arange(6.0)[:, None])  # D = 1: the second axis is zero
    assert line.coords.shape == (6, 2) and torch.all(line.coords[:, 1] == 0) and line.variance_share == 1.0
    flat = principal_plane(torch.ones(5, 3))
    assert torch.all(flat.coords == 0) and flat.variance_share == 0.0


# ---------------------------------------------------------------- the picture


def test_separate_classes_are_separate_clouds_in_their_colours():
    g = torch.Generator().manual_seed(2)
    y = torch.arange(200) % 2
    x = torch.randn(200, 6, generator=g) + 8 * (2 * y[:, None] - 1) * torch.tensor([1.0, 0, 0, 0, 0, 0])
    picture = latent_picture(x, y, size=64)
    assert picture.shape == (3, 64, 64) and picture.dtype == torch.uint8
    drawn = _drawn(picture)
    left, right = drawn.clone(), drawn.clone()
    left[:, 32:], right[:, :32] = False, False
    sides = [_colour_at(picture, left), _colour_at(picture, right)]
    assert {CLASS_COLOURS[0]} in sides and {CLASS_COLOURS[1]} in sides


def test_a_collapsed_representation_is_a_line_and_a_spread_one_is_not():
    g = torch.Generator().manual_seed(3)
    direction = torch.randn(32, generator=g)
    collapsed = torch.randn(500, 1, generator=g) * direction + 1e-4 * torch.randn(500, 32, generator=g)
    spread = torch.randn(500, 32, generator=g)
    y = torch.arange(500) % 10
    rows_collapsed = _drawn(latent_picture(collapsed, y)).any(dim=1).nonzero().flatten()
    rows_spread = _drawn(latent_picture(spread, y)).any(dim=1).nonzero().flatten()
    assert int(rows_collapsed.max() - rows_collapsed.min()) <= 3  # one dot high: both axes share one scale
    assert int(rows_spread.max() - rows_spread.min()) > 100


def test_colours_cycle_over_ten_classes_and_unlabelled_samples_are_grey():
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    picture = latent_picture(x, torch.tensor([11, -1]), size=32, dot=1)
    assert tuple(picture[:, 16, 31].tolist()) == CLASS_COLOURS[1]
    assert tuple(picture[:, 16, 0].tolist()) == UNUSED_COLOUR


def test_empty_or_constant_features_and_a_too_small_picture():
    assert not _drawn(latent_picture(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), size=16)).any()
    centre = latent_picture(torch.ones(3, 4), torch.tensor([0, 0, 0]), size=16, dot=1)
    assert _drawn(centre).nonzero().tolist() == [[8, 8]]  # every sample at the mean
    with pytest.raises(ValueError, match="size must be at least"):
        latent_picture(torch.ones(3, 4), torch.tensor([0, 0, 0]), size=3, dot=3)


def test_write_png_round_trips_and_a_failed_write_is_one_sentence(tmp_path):
    picture = latent_picture(torch.randn(50, 4), torch.arange(50) % 3, size=40)
    path = write_png(picture, picture_path(tmp_path / "run", 7))
    assert path == tmp_path / "run" / "latents" / "step_00000007.png"
    assert torch.equal(torch.from_numpy(np.array(Image.open(path))).permute(2, 0, 1), picture)
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match=r"could not write the latent picture '.*file/latents/step_00000001.png'"):
        write_png(picture, picture_path(tmp_path / "file", 1))


# ------------------------------------------------------- the online evaluation


def test_each_online_evaluation_logs_and_writes_its_picture(tmp_path):
    subsets = choose_subsets(_labelled(120), None, EvalConfig(train_samples=80, val_samples=40), seed=0)
    writer = FakeWriter()
    evaluator = OnlineEvaluator(subsets, EvalConfig(), every=0, writer=writer, out_dir=tmp_path)
    evaluator.evaluate(_MeanEncoder(), step=0)
    evaluator.evaluate(_MeanEncoder(), step=5)
    assert [(tag, step) for tag, step, _ in writer.images] == [("eval/latents", 0), ("eval/latents", 5)]
    assert sorted(p.name for p in (tmp_path / "latents").iterdir()) == ["step_00000000.png", "step_00000005.png"]
    assert _drawn(writer.images[0][2]).sum() > 0


def test_latents_off_draws_nothing(tmp_path):
    subsets = choose_subsets(_labelled(120), None, EvalConfig(train_samples=80, val_samples=40), seed=0)
    writer = FakeWriter()
    OnlineEvaluator(subsets, EvalConfig(latents=False), every=0, writer=writer, out_dir=tmp_path).evaluate(
        _MeanEncoder(), step=0
    )
    assert writer.images == [] and not (tmp_path / "latents").exists()


def test_diverged_features_draw_no_picture(tmp_path):
    class _NaN(_MeanEncoder):
        def forward(self, x, keep=None):
            return super().forward(x) * float("nan")

    subsets = choose_subsets(_labelled(120), None, EvalConfig(train_samples=80, val_samples=40), seed=0)
    writer = FakeWriter()
    record = OnlineEvaluator(subsets, EvalConfig(), every=0, writer=writer, out_dir=tmp_path).evaluate(_NaN(), step=3)
    assert record.knn_top1 != record.knn_top1 and writer.images == []


def test_latent_picture_needs_one_label_per_row():
    with pytest.raises(ValueError, match=r"one label per row, got shapes \(50, 8\) and \(10,\)$"):
        latent_picture(torch.randn(50, 8), torch.arange(10))
