"""The demo recipe at reduced cost: it trains (loss falls) and ends with a probe of both encoders.

The full demo's claim (trained target encoder beats random init on held-out images) is measured
by `make demo` (numbers in the README); at this reduced budget the probe gap is not reliable, so
this test checks that the probe runs on held-out data for both encoders and that training learns.
"""

from __future__ import annotations

import json

from jepa_core.config import apply_overrides
from jepa_core.registry import build_registry
from jepa_core.run import train_run


def test_reduced_demo_loss_falls_and_probes_both_encoders(tmp_path):
    registry = build_registry()
    cfg = registry.preset("image", "demo").build()
    assert cfg.data.name == "synthetic_shapes" and cfg.probe.enabled and cfg.probe.compare_random_init
    cfg = apply_overrides(cfg, [
        "data.num_train=768", "data.num_val=128", "train.batch_size=32", "train.epochs=1",
        "train.num_workers=0", "train.log_every=4", "probe.epochs=10", f"train.out_dir={tmp_path}",
    ], registry)
    result = train_run(cfg, registry, stream=None)
    assert result.steps == 24
    losses = [loss for _, loss in result.loss_history]
    assert losses[-1] < 0.8 * losses[0], losses
    assert set(result.probe) == {"trained", "random_init"}
    for probe in result.probe.values():
        assert probe.num_val == 128 and probe.num_classes == 8
        assert 0.0 <= probe.top1 <= 100.0
    saved = json.loads((tmp_path / "probe.json").read_text())
    assert saved["trained"]["top1"] == result.probe["trained"].top1
