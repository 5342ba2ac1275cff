"""Preset parts shared by the plugins' CPU demos: the small-budget schedule, the demo training
loop and the end-of-run linear probe.

Example::

    RunConfig(plugin="video", preset="demo", ..., optim=SMALL_SCALE_OPTIM,
              train=demo_train("runs/video_demo"), probe=DEMO_PROBE)
"""

from __future__ import annotations

from jepa_core.config import OptimConfig, ProbeConfig, TrainConfig

SMALL_SCALE_OPTIM = OptimConfig(
    lr=1e-3, start_lr=1e-4, final_lr=1e-5, warmup_epochs=1, weight_decay=0.04, final_weight_decay=0.1,
    ema_start=0.996, ema_end=1.0,
)
"""The small-budget schedule of the demos (and of the image plugin's ``small``)."""

DEMO_PROBE = ProbeConfig(enabled=True, epochs=100, lr=1e-2)
"""The linear probe that ends a demo run (also run on the same network at random init)."""


def demo_train(out_dir: str) -> TrainConfig:
    """Five epochs of batch 64 in fp32 on one data worker, with mask images and monitoring.

    >>> demo_train("runs/demo").batch_size
    64
    """
    return TrainConfig(
        epochs=5, batch_size=64, num_workers=1, precision="fp32", log_every=16, checkpoint_every=0,
        monitor_every=40, mask_image_every=80, out_dir=out_dir,
    )
