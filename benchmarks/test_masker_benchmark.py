"""CPU benchmark of the multi-block maskers on one collate call (a batch of 128).

Grids: 14x14 (ViT-B/16 at 224 px) and 16x16 (ViT-H/14 at 224 px); video: 8x14x14 (16 frames
at 224 px, 2x16x16 tubelets) with the V-JEPA short- and long-range masks. Loader workers run torch
with one thread, so the benchmark does too. Run with ``pytest benchmarks --benchmark-enable``.
"""

from __future__ import annotations

import pytest
import torch

from jepa_image.masks import MultiBlockConfig, MultiBlockMasker
from jepa_video.masks import MultiBlock3DConfig, MultiBlock3DMasker

BATCH = 128


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("reference", [False, True], ids=["default", "reference"])
@pytest.mark.parametrize("grid", [(14, 14), (16, 16)], ids=["14x14", "16x16"])
def test_multiblock_masker_batch(benchmark, one_thread, grid, reference):
    masker = MultiBlockMasker(MultiBlockConfig(reference_sampling=reference))
    generator = torch.Generator().manual_seed(0)
    masks = benchmark(masker, BATCH, grid, generator)
    assert masks.context.shape[0] == BATCH
    assert masks.targets.shape[:2] == (BATCH, 4)


def test_multiblock3d_masker_batch(benchmark, one_thread):
    masker = MultiBlock3DMasker(MultiBlock3DConfig())
    generator = torch.Generator().manual_seed(0)
    short, long = benchmark(masker, BATCH, (8, 14, 14), generator)
    assert short.context.shape[0] == long.targets.shape[0] == BATCH
