"""Fixtures shared by the core's tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module of tiny models: faster and steadier on a shared 2-core CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_image_run(tmp_path_factory):
    """A 2-step run directory of the image demo shrunk to a 2-block, 32-px ViT (read-only for tests)."""
    from jepa_core.config import apply_overrides
    from jepa_core.registry import build_registry
    from jepa_core.run import train_run
    from tests.jepa_core.test_eval_cli import TINY

    reg = build_registry()
    out = tmp_path_factory.mktemp("tiny_image_run")
    cfg = apply_overrides(reg.preset("image", "demo").build(), TINY + [f"train.out_dir={out}"], reg)
    assert train_run(cfg, reg, stream=None).steps == 2
    return out
