"""The audio demo recipe through the real loader and trainer: the A-JEPA curriculum moves with the
run's progress, and a short run's loss falls."""

from __future__ import annotations

from jepa_core.config import apply_overrides
from jepa_core.data import build_loader
from jepa_core.registry import build_registry
from jepa_core.run import build_dataset, build_parts, train_run


def test_the_curriculum_moves_from_multiblock_to_time_frequency_masks_over_the_run():
    registry = build_registry()
    cfg = apply_overrides(registry.preset("audio", "demo").build(), ["data.num_train=128"], registry)
    parts = build_parts(cfg, registry)
    dataset = build_dataset(cfg, registry, "train")
    loader = build_loader(dataset, parts.masker, grid=parts.encoder.token_grid, micro_batch=4, seed=0, epochs=4)
    sampler = loader.batch_sampler  # 32 steps per epoch, 128 in the run
    kinds = []
    for epoch in (0, 3):
        sampler.set_epoch(epoch)
        kinds.append([batch.masks.num_targets for batch in loader])  # 4 = multi-block, 3 = time-frequency
    first, last = kinds
    assert set(first) | set(last) == {3, 4}
    assert first.count(4) > 24 and last.count(3) > 24  # p(tf) = progress: <= 0.25 in epoch 0, >= 0.75 in epoch 3


def test_a_short_audio_run_learns(tmp_path):
    registry = build_registry()
    cfg = apply_overrides(
        registry.preset("audio", "demo").build(),
        [
            "data.num_train=512",
            "train.epochs=2",
            "train.log_every=4",
            "probe.enabled=false",
            "train.eval_every=0",  # the loss is what this test reads
            f"train.out_dir={tmp_path}",
        ],
        registry,
    )
    result = train_run(cfg, registry, stream=None)
    losses = [loss for _, loss in result.loss_history]
    assert result.steps == 16 and losses[-1] < 0.7 * losses[0], losses
