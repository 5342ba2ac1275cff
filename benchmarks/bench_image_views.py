"""Image training views: per image with PIL against batch-wide with tensor ops (``data.batch_views``).

A preset's view options (crops, jitter, greyscale, blur, multi-crop) applied to a fixed batch of
generated 8-bit images held in memory (grey by default, as Fashion-MNIST; ``--rgb`` for colour),
without file reads or the loader: the per-image path calls ``train_views`` on each image, the
batch-wide one resizes each image to the resolution and calls ``BatchViews`` on the stack. The
two ways are interleaved so that a busy machine slows both alike; prints the median time per batch
and images/s of each::

    python benchmarks/bench_image_views.py --preset lejepa_small_muon --size 28 --batch 128
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from jepa_core.registry import build_registry
from jepa_image.batch_views import BatchViews, batch_source_transform
from jepa_image.transforms import ImageAugmentConfig, train_views

try:
    from bench_precision_cpu import interleaved_times, print_medians  # run as a script from benchmarks/
except ImportError:  # pragma: no cover - imported as benchmarks.bench_image_views
    from benchmarks.bench_precision_cpu import interleaved_times, print_medians


def augment_options(plugin: str, preset: str) -> ImageAugmentConfig:
    """The preset's data options, which hold its view switches (an :class:`ImageAugmentConfig`)."""
    options = build_registry().preset(plugin, preset).build().data.options
    if not isinstance(options, ImageAugmentConfig):
        raise SystemExit(f"preset '{preset}' does not read images with training views")
    return options


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", default="image")
    parser.add_argument("--preset", default="lejepa_small_muon")
    parser.add_argument("--size", type=int, default=28, help="side of the generated source images")
    parser.add_argument("--rgb", action="store_true", help="colour images instead of grey ones")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)

    cfg = augment_options(args.plugin, args.preset)
    rng = np.random.default_rng(0)
    shape = (args.size, args.size, 3) if args.rgb else (args.size, args.size)
    images = [Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)) for _ in range(args.batch)]
    per_image_views = train_views(cfg)
    source, batch_views = batch_source_transform(cfg.resolution), BatchViews(cfg)
    g = torch.Generator().manual_seed(0)

    def per_image() -> None:
        [per_image_views(img) for img in images]

    def batch_wide() -> None:
        batch_views(torch.stack([source(img) for img in images]), g)

    ways: dict[str, Callable[[], None]] = {"per image (PIL)": per_image, "batch-wide (tensor ops)": batch_wide}
    times = interleaved_times(ways, args.rounds)
    print_medians(f"{args.plugin}/{args.preset} views of {args.size} px images", args.batch, times)


if __name__ == "__main__":
    main()
