"""Gradient accumulation: k micro-batches equal one batch k times larger (identical masks)."""

from __future__ import annotations

import pytest
import torch

from jepa_core.data import Batch, EpochBatchSampler, MaskCollator
from jepa_core.interfaces import MaskSet
from tests.jepa_core.test_precision import tiny_batch, tiny_trainer


def split(batch: Batch, k: int) -> list[Batch]:
    """Cut ``batch`` into ``k`` micro-batches, each keeping its samples' own masks."""
    n = len(batch) // k
    rows = [slice(i * n, (i + 1) * n) for i in range(k)]
    return [
        Batch(batch.inputs[r], MaskSet(batch.masks.context[r], batch.masks.targets[r]), batch.labels[r]) for r in rows
    ]


@pytest.mark.parametrize("k", [2, 4])
def test_k_micro_batches_equal_one_large_batch(k):
    whole, accumulated = tiny_trainer(), tiny_trainer()
    for step in range(3):
        batch = tiny_batch(8, seed=step)
        a = whole.train_step(batch)
        b = accumulated.train_step(split(batch, k))
        assert a.batch_size == b.batch_size == 8
        torch.testing.assert_close(b.loss, a.loss, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(b.grad_norm, a.grad_norm, rtol=1e-4, atol=1e-6)
    for name, module in (("encoder", "encoder"), ("predictor", "predictor")):
        mine, ref = (
            dict(getattr(accumulated, module).named_parameters()),
            dict(getattr(whole, module).named_parameters()),
        )
        for key, value in ref.items():
            torch.testing.assert_close(
                mine[key], value, rtol=1e-4, atol=1e-5, msg=lambda m, name=name, key=key: f"{name}.{key}: {m}"
            )
    for t, r in zip(accumulated.target.encoder.parameters(), whole.target.encoder.parameters(), strict=True):
        torch.testing.assert_close(t, r, rtol=1e-4, atol=1e-5)


def test_accumulation_is_not_a_sum_of_unweighted_losses():
    # Guards the 1/k weighting: one micro-batch repeated k times must give that batch's own loss.
    trainer = tiny_trainer()
    batch = tiny_batch(4)
    single = trainer.compute_loss(batch).detach()
    out = tiny_trainer().train_step([batch, batch])
    torch.testing.assert_close(out.loss, single)


def test_one_process_with_accumulation_sees_the_micro_batches_of_two_processes():
    def micro_batches(rank: int, world: int, accum: int) -> dict[int, list]:
        sampler = EpochBatchSampler(64, 4, seed=3, rank=rank, world_size=world, accum_steps=accum)
        sampler.set_epoch(1)
        return {keys[0][1:3]: keys for keys in sampler}  # keyed by (step, global micro index g)

    single = micro_batches(0, 1, 2)
    two = {**micro_batches(0, 2, 1), **micro_batches(1, 2, 1)}
    assert single.keys() == two.keys() == {(step, g) for step in range(8) for g in (0, 1)}
    masks = lambda keys: MaskCollator(_Masker(), (4,), seed=3)([(torch.zeros(1), 0, k[:3], ()) for k in keys])  # noqa: E731
    for key in single:
        assert single[key] == two[key]
        torch.testing.assert_close(masks(single[key]).masks.context, masks(two[key]).masks.context)


class _Masker:
    """Draws from the collator's generator so the masks reveal its seed."""

    def __call__(self, batch_size, grid, generator):
        ctx = torch.randint(0, grid[0], (batch_size, 2), generator=generator)
        return MaskSet(ctx, ctx[:, None, :1])


class _SyncRecorder(torch.nn.Module):
    """Stands in for a wrapped context path: records which backward passes would reduce gradients."""

    def __init__(self, path: torch.nn.Module, kind: str) -> None:
        super().__init__()
        self.path, self.kind, self.events = path, kind, []
        if kind == "fsdp":
            self.set_requires_gradient_sync = lambda flag: self.events.append(("sync", flag))

    def forward(self, *args):
        self.events.append(("forward",))
        return self.path(*args)

    def no_sync(self):
        import contextlib

        if self.kind != "ddp":
            raise AssertionError("no_sync called on a module that is not DDP")

        @contextlib.contextmanager
        def ctx():
            self.events.append(("no_sync_enter",))
            yield
            self.events.append(("no_sync_exit",))

        return ctx()


@pytest.mark.parametrize("kind", ["fsdp", "ddp"])
def test_only_the_last_micro_batch_synchronises_gradients(kind):
    trainer = tiny_trainer()
    trainer.context_path = recorder = _SyncRecorder(trainer.context_path, kind)
    trainer.train_step(split(tiny_batch(6), 3))
    if kind == "fsdp":  # the flag is set before each micro-batch's forward: off, off, on
        assert recorder.events == [
            ("sync", False),
            ("forward",),
            ("sync", False),
            ("forward",),
            ("sync", True),
            ("forward",),
        ]
    else:  # DDP: the first two micro-batches run inside no_sync, the last one outside
        assert recorder.events == [
            ("no_sync_enter",),
            ("forward",),
            ("no_sync_exit",),
            ("no_sync_enter",),
            ("forward",),
            ("no_sync_exit",),
            ("forward",),
        ]
