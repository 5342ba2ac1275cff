"""Closed-form checks of the sin-cos positional embeddings (2-D MAE layout, 3-D V-JEPA layout)."""

from __future__ import annotations

import math

import pytest
import torch

from jepa_vit.pos_embed import sincos_pos_embed_1d, sincos_pos_embed_2d, sincos_pos_embed_3d


def _expected(d: int, row: int, col: int) -> list[float]:
    q = d // 4
    omegas = [1.0 / 10000 ** (i / q) for i in range(q)]
    return (
        [math.sin(col * w) for w in omegas]
        + [math.cos(col * w) for w in omegas]
        + [math.sin(row * w) for w in omegas]
        + [math.cos(row * w) for w in omegas]
    )


def test_2d_shape_and_dtype() -> None:
    pe = sincos_pos_embed_2d(16, 3, 5)
    assert pe.shape == (15, 16)
    assert pe.dtype == torch.float32


@pytest.mark.parametrize(("row", "col"), [(0, 0), (0, 4), (2, 3), (1, 1), (2, 0)])
def test_2d_closed_form(row: int, col: int) -> None:
    d, gh, gw = 16, 3, 5
    pe = sincos_pos_embed_2d(d, gh, gw)
    got = pe[row * gw + col]
    want = torch.tensor(_expected(d, row, col), dtype=torch.float32)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_first_half_is_column_second_half_is_row() -> None:
    d, gh, gw = 8, 4, 6
    pe = sincos_pos_embed_2d(d, gh, gw).view(gh, gw, d)
    # Along a row (fixed row, varying col) only the first half changes.
    torch.testing.assert_close(pe[1, :, d // 2 :], pe[1, :1, d // 2 :].expand(gw, -1))
    assert not torch.allclose(pe[1, 0, : d // 2], pe[1, 3, : d // 2])
    # Along a column only the second half changes.
    torch.testing.assert_close(pe[:, 2, : d // 2], pe[:1, 2, : d // 2].expand(gh, -1))
    assert not torch.allclose(pe[0, 2, d // 2 :], pe[3, 2, d // 2 :])
    # Channel 0 is sin(col * 1), channel d/2 is sin(row * 1).
    assert pe[2, 3, 0].item() == pytest.approx(math.sin(3.0), abs=1e-6)
    assert pe[2, 3, d // 2].item() == pytest.approx(math.sin(2.0), abs=1e-6)


def test_1d_closed_form() -> None:
    pos = torch.tensor([0, 3, 7])
    pe = sincos_pos_embed_1d(6, pos)
    assert pe.shape == (3, 6)
    omegas = [1.0 / 10000 ** (i / 3) for i in range(3)]
    for r, p in enumerate([0, 3, 7]):
        want = [math.sin(p * w) for w in omegas] + [math.cos(p * w) for w in omegas]
        torch.testing.assert_close(pe[r], torch.tensor(want), atol=1e-6, rtol=0)


def test_bad_dims_raise() -> None:
    with pytest.raises(ValueError, match="10"):
        sincos_pos_embed_2d(10, 2, 2)
    with pytest.raises(ValueError, match="5"):
        sincos_pos_embed_1d(5, torch.arange(3))


def test_3d_sincos_layout_matches_the_spec():
    d, grid = 20, (2, 3, 4)  # per axis 2 * ceil(20 / 6) = 8 channels; 24 cut to 20
    pe = sincos_pos_embed_3d(d, grid)
    assert pe.shape == (24, 20) and pe.dtype == torch.float32
    t, h, w = torch.meshgrid(torch.arange(2), torch.arange(3), torch.arange(4), indexing="ij")
    expected = torch.cat([sincos_pos_embed_1d(8, a.reshape(-1)) for a in (t, h, w)], dim=1)[:, :20]
    torch.testing.assert_close(pe, expected)
    # token (ti, hi, wi) = (1, 2, 3) is row (1 * 3 + 2) * 4 + 3 = 23; channel 0 = sin(ti * 1), 4 = cos(ti)
    assert pe[23, 0].item() == pytest.approx(math.sin(1.0)) and pe[23, 4].item() == pytest.approx(math.cos(1.0))
    assert pe[23, 8].item() == pytest.approx(math.sin(2.0)) and pe[23, 16].item() == pytest.approx(math.sin(3.0))
    # w_k = 10000^(-2k/d) with d = 8: channel 1 of the time block is sin(ti * 10000^(-1/4))
    assert pe[23, 1].item() == pytest.approx(math.sin(10000**-0.25), rel=1e-5)


def test_3d_sincos_rejects_bad_grids():
    with pytest.raises(ValueError, match="grid \\(t, h, w\\)"):
        sincos_pos_embed_3d(12, (4, 4))
