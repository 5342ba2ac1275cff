"""The training loader of an image-folder preset, batch by batch: file reads, decoding, views and masks.

Times the same ``--batches`` batches of the first epoch of ``--data`` (a folder of class
sub-folders) in the training process (no workers), three ways: each read run with the host's
random generators seeded per sample (what any dataset gets), the reads unseeded (what a dataset
with ``deterministic_reads`` gets: batch-wide views), and the same batches again from the
``data.cache`` filled by a first pass. Prints the header of the machine, then the median time per
batch and images/s of each way::

    python benchmarks/bench_image_loader.py --preset lejepa_small_fast --data data/fashion_mnist/train
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

import attrs

from jepa_core.config import apply_overrides
from jepa_core.data import build_loader
from jepa_core.registry import build_registry
from jepa_core.run import build_dataset, build_parts

try:
    from bench_precision_cpu import print_medians  # run as a script from benchmarks/
except ImportError:  # pragma: no cover - imported as benchmarks.bench_image_loader
    from benchmarks.bench_precision_cpu import print_medians


class SeededReads:
    """``dataset`` without its ``deterministic_reads``: the loader seeds every read again."""

    def __init__(self, dataset) -> None:
        self.dataset, self.batch_transform = dataset, dataset.batch_transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return self.dataset[index]


def batch_times(loader, batches: int) -> list[float]:
    """Seconds per batch of the first ``batches`` batches of epoch 0."""
    loader.batch_sampler.set_epoch(0)
    times: list[float] = []
    it: Iterator = iter(loader)
    for _ in range(batches):
        start = time.perf_counter()
        next(it)
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", default="image")
    parser.add_argument("--preset", default="lejepa_small_fast")
    parser.add_argument("--data", required=True, help="a folder of class sub-folders of images")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args(argv)

    registry = build_registry()
    cfg = apply_overrides(registry.preset(args.plugin, args.preset).build(), [f"data.root={args.data}"], registry)
    options = cfg.data.options
    if not getattr(options, "batch_views", False):
        raise SystemExit(f"preset '{args.preset}' does not draw batch-wide views (data.batch_views)")
    parts = build_parts(cfg, registry)

    def loader(cache: bool, seeded: bool):
        data = attrs.evolve(cfg, data=attrs.evolve(cfg.data, options=attrs.evolve(options, cache=cache)))
        dataset = build_dataset(data, registry, "train")
        return build_loader(
            SeededReads(dataset) if seeded else dataset,
            parts.masker,
            grid=parts.encoder.token_grid,
            micro_batch=args.batch,
            seed=cfg.train.seed,
        )

    cached = loader(cache=True, seeded=False)
    batch_times(cached, args.batches)  # fills the cache
    times = {
        "seeded reads": batch_times(loader(cache=False, seeded=True), args.batches),
        "unseeded reads": batch_times(loader(cache=False, seeded=False), args.batches),
        "cached images": batch_times(cached, args.batches),
    }
    print_medians(f"{args.plugin}/{args.preset} training loader on {args.data}", args.batch, times)


if __name__ == "__main__":
    main()
