"""Drawing synthetic shapes: the shape kinds, the pixel grid, backgrounds and distractor dots."""

from __future__ import annotations

import numpy as np
import pytest

from jepa_vit.shapes import SHAPES, PixelGrid, add_distractor_dot, object_range, paint_background, shape_mask


def test_every_kind_covers_the_centre_region_and_differs_from_the_others() -> None:
    grid = PixelGrid(48)
    u, v = (grid.x - 0.5) / 0.35, (grid.y - 0.5) / 0.35
    masks = {kind: shape_mask(kind, u, v) for kind in SHAPES}
    assert len(SHAPES) == 10
    for kind, mask in masks.items():
        assert mask.dtype == bool and 0.05 < mask.mean() < 0.5, kind
    assert len({m.tobytes() for m in masks.values()}) == len(SHAPES)
    with pytest.raises(ValueError, match="unknown shape kind 'blob'"):
        shape_mask("blob", u, v)


def test_pixel_grid_centres_and_bilinear_weights() -> None:
    grid = PixelGrid(8)
    assert grid.res == 8 and grid.x.shape == grid.y.shape == (8, 8) and grid.x.dtype == np.float32
    np.testing.assert_allclose(grid.x[0], (np.arange(8) + 0.5) / 8)
    np.testing.assert_allclose(grid.y[:, 0], (np.arange(8) + 0.5) / 8)
    assert grid.up.shape == (8, 4)
    np.testing.assert_allclose(grid.up.sum(axis=1), 1.0, rtol=1e-6)


def test_background_is_a_pure_function_of_the_generator_and_respects_the_tone() -> None:
    grid = PixelGrid(16)
    a = paint_background(np.random.default_rng(3), grid, light=True)
    b = paint_background(np.random.default_rng(3), grid, light=True)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (16, 16, 3)
    for seed in range(6):
        light = paint_background(np.random.default_rng(seed), grid, light=True)
        dark = paint_background(np.random.default_rng(seed), grid, light=False)
        assert light.mean() > 0.45 and dark.mean() < 0.55
    f32 = paint_background(np.random.default_rng(1), grid, light=False, dtype=np.float32)
    assert np.abs(f32 - paint_background(np.random.default_rng(1), grid, light=False)).max() < 1e-5


def test_distractor_dot_is_drawn_half_the_time_in_the_object_colours() -> None:
    grid = PixelGrid(32)
    drawn = 0
    for seed in range(40):
        img = np.full((32, 32, 3), -1.0)
        add_distractor_dot(np.random.default_rng(seed), img, grid, object_range(light=True))
        painted = img[img[..., 0] >= 0]
        if painted.size:
            drawn += 1
            assert (painted >= 0.0).all() and (painted <= 0.4).all()
    assert 10 < drawn < 30
    assert object_range(light=False) == (0.6, 1.0)
