"""The ViT size table and the checks every size-based encoder config shares."""

from __future__ import annotations

import types

import pytest

from jepa_vit.sizes import VIT_SIZES, check_heads, check_known_size, check_size, resolve_size


def _cfg(
    size: str = "tiny",
    depth: int | None = None,
    embed_dim: int | None = None,
    num_heads: int | None = None,
    mlp_ratio: float | None = None,
):
    return types.SimpleNamespace(size=size, depth=depth, embed_dim=embed_dim, num_heads=num_heads, mlp_ratio=mlp_ratio)


def test_resolve_size_applies_only_the_given_overrides() -> None:
    assert resolve_size(_cfg("small")) == VIT_SIZES["small"]
    assert resolve_size(_cfg("tiny", depth=2, embed_dim=128, num_heads=4)) == (128, 2, 4, 4.0)
    assert resolve_size(_cfg("tiny", mlp_ratio=2.0)) == (192, 12, 3, 2.0)
    assert resolve_size(_cfg("giant", mlp_ratio=4.0))[3] == 4.0


@pytest.mark.parametrize("ratio", [0.0, -2.0, 0.004, float("nan"), float("inf")])
def test_mlp_ratios_without_a_width_are_rejected_naming_the_value(ratio: float) -> None:
    with pytest.raises(ValueError, match=rf"video ViT mlp_ratio={ratio} gives no MLP width for embed_dim=192"):
        check_size(_cfg(mlp_ratio=ratio), "video ViT")
    check_size(_cfg(mlp_ratio=0.5), "video ViT")


def test_unknown_sizes_name_the_valid_ones() -> None:
    check_known_size("giant")
    with pytest.raises(ValueError, match=r"unknown ViT size 'medium'; valid sizes: \['base', 'giant'"):
        check_known_size("medium")
    with pytest.raises(ValueError, match="unknown ViT size 'medium'"):
        check_size(_cfg("medium"), "ViT")


def test_depth_and_head_split_are_checked_with_the_owner_named() -> None:
    check_size(_cfg("tiny", depth=1), "video ViT")
    with pytest.raises(ValueError, match="depth must be positive, got 0"):
        check_size(_cfg(depth=0), "ViT")
    with pytest.raises(ValueError, match="video ViT embed_dim=192 is not divisible by num_heads=5"):
        check_size(_cfg(num_heads=5), "video ViT")
    with pytest.raises(ValueError, match=r"predictor embed_dim=6 must be divisible by 4 \(2-D sin-cos\)"):
        check_heads(6, 2, "predictor")
    with pytest.raises(ValueError, match="num_heads=0"):
        check_heads(64, 0, "ViT")
