"""The demos hold the recipes behind their numbers in docs/results.md. Video and audio: the
predictive objective with VICReg (weight 1, pooled feature and tokens) and a fast EMA, while their
``lejepa_demo`` twins train the same network on the same data with LeJEPA and VICReg (weight 3) on
each view's pooled embedding and tokens. Image: ``lejepa_demo`` trains the ``demo`` network with
LeJEPA on token views of two colour-jittered crops."""

from __future__ import annotations

import attrs
import pytest
import torch

from jepa_core.registry import build_registry
from jepa_image.synthetic import build_synthetic


@pytest.fixture(scope="module")
def registry():
    return build_registry()


@pytest.mark.parametrize("plugin", ["video", "audio"])
def test_demo_learns_with_vicreg_and_a_fast_ema(registry, plugin):
    demo = registry.preset(plugin, "demo").build()
    reg = demo.regularizer
    assert demo.objective.name == "predictive" and demo.target.name == "ema"
    assert (reg.name, reg.options.weight, reg.options.apply_to) == ("vicreg", 1.0, "both")
    assert (demo.optim.ema_start, demo.optim.ema_end) == (0.99, 0.999)
    lejepa = registry.preset(plugin, "lejepa_demo").build()
    assert lejepa.objective.name == "lejepa"
    reg = lejepa.regularizer
    assert (reg.name, reg.options.weight, reg.options.apply_to) == ("vicreg", 3.0, "both")
    assert (lejepa.encoder, lejepa.data) == (demo.encoder, demo.data)
    # audio: bf16 where the CPU multiplies it natively; video stays in fp32 (docs/results.md)
    assert (demo.train.precision, lejepa.train.precision) == ("fp32", "auto" if plugin == "audio" else "fp32")


def test_image_lejepa_demo_trains_the_demo_network_on_two_colour_jittered_crops(registry):
    demo = registry.preset("image", "demo").build()
    lejepa = registry.preset("image", "lejepa_demo").build()
    assert lejepa.objective.name == "lejepa" and lejepa.target.name == "none" and lejepa.predictor.name == "none"
    assert lejepa.encoder == demo.encoder
    data, views = lejepa.data.options, lejepa.masker.options
    assert (data.multi_crop, data.global_crops, data.local_crops) == (True, 2, 0)
    assert (data.color_jitter, data.grayscale) == (2.0, 0.2)
    assert (views.global_views, views.local_views, views.global_keep) == (2, 0, 0.5)
    reg = lejepa.regularizer
    assert (reg.name, reg.options.weight, reg.options.apply_to) == ("vicreg", 1.0, "both")
    assert lejepa.train.epochs == 6 and lejepa.train.batch_size == demo.train.batch_size
    assert data.batch_views and lejepa.train.num_workers == 0  # views drawn batch-wide, in the training process
    assert lejepa.train.precision == "auto"  # bf16 where the CPU multiplies it natively


@pytest.mark.parametrize("batch_views", [True, False], ids=["batch-wide", "per-image"])
def test_image_lejepa_demo_views_of_one_image_differ_in_colour(registry, batch_views):
    cfg = attrs.evolve(registry.preset("image", "lejepa_demo").build().data.options, batch_views=batch_views)
    plain = attrs.evolve(cfg, color_jitter=0.0, grayscale=0.0)
    torch.manual_seed(0)
    jittered_gap, plain_gap = colour_gap(build_synthetic(cfg, "train")), colour_gap(build_synthetic(plain, "train"))
    assert jittered_gap > 2 * plain_gap, (jittered_gap, plain_gap)


def colour_gap(ds, samples: int = 16) -> float:
    """Mean over samples of the largest per-channel difference of the two views' mean colours
    (the views as the dataset's collate makes them when it draws them batch-wide)."""
    if ds.batch_transform is not None:
        images = torch.stack([ds[i][0] for i in range(samples)])
        a, b = ds.batch_transform(images, torch.Generator().manual_seed(0))
        return (a.mean((2, 3)) - b.mean((2, 3))).abs().amax(1).mean().item()
    gaps = []
    for i in range(samples):
        (a, b), _ = ds[i]
        gaps.append((a.mean((1, 2)) - b.mean((1, 2))).abs().max().item())
    return sum(gaps) / samples
