"""Multi-mask training (V-JEPA's short- and long-range masks): a masker returning a tuple of
MaskSets trains on the mean of the per-set losses, with one target-encoder pass for all sets."""

from __future__ import annotations

import pickle

import pytest
import torch

from jepa_core import testing
from jepa_core.data import Batch, MaskCollator
from jepa_core.interfaces import MaskSet, map_masks, mask_sets
from jepa_core.monitors import MaskPictures
from jepa_core.targets import targets_for
from tests.jepa_core.test_precision import tiny_batch, tiny_trainer


def two_sets(n: int, seed: int = 0) -> tuple[MaskSet, MaskSet]:
    """A 'short-range' set (2 targets of 2 tokens) and a 'long-range' set (1 target of 6) on a 4x4 grid."""
    g = torch.Generator().manual_seed(seed)
    perms = torch.stack([torch.randperm(16, generator=g) for _ in range(n)])  # [n, 16]
    short = MaskSet(perms[:, :10].sort(dim=1).values, perms[:, 10:14].reshape(n, 2, 2))
    long = MaskSet(perms[:, 6:16].sort(dim=1).values, perms[:, :6].reshape(n, 1, 6))
    return short, long


class TwoSetMasker:
    """Picklable multi-mask masker drawing everything from the generator."""

    def __call__(self, batch_size, grid, generator):
        seed = int(torch.randint(0, 2**31 - 1, (), generator=generator))
        return two_sets(batch_size, seed)


def test_loss_is_the_mean_of_the_per_set_losses():
    trainer = tiny_trainer()
    batch = tiny_batch(4)
    short, long = two_sets(4)
    each = [trainer.compute_loss(Batch(batch.inputs, m, batch.labels)) for m in (short, long)]
    both = trainer.compute_loss(Batch(batch.inputs, (short, long), batch.labels))
    torch.testing.assert_close(both, (each[0] + each[1]) / 2)
    assert not torch.allclose(each[0], each[1])  # the sets really differ


def test_target_encoder_runs_once_for_all_sets_and_matches_per_set_targets():
    trainer = tiny_trainer()
    x = tiny_batch(3).inputs
    short, long = two_sets(3)
    calls = []
    handle = trainer.target.encoder.register_forward_hook(lambda *a: calls.append(1))
    together = targets_for(trainer.target, x, [short.targets, long.targets])
    assert len(calls) == 1
    apart = [trainer.target.targets(x, m.targets) for m in (short, long)]
    handle.remove()
    assert [t.shape for t in together] == [torch.Size([6, 2, 64]), torch.Size([3, 6, 64])]
    for a, b in zip(together, apart, strict=True):
        torch.testing.assert_close(a, b)


def test_a_provider_without_targets_many_is_called_once_per_set():
    class Plain:
        def __init__(self):
            self.calls = 0

        def targets(self, x, idx):
            self.calls += 1
            return torch.zeros(idx.shape[0] * idx.shape[1], idx.shape[2], 4)

    plain = Plain()
    short, long = two_sets(2)
    out = targets_for(plain, torch.zeros(2, 3), [short.targets, long.targets])
    assert plain.calls == 2 and [t.shape[0] for t in out] == [4, 2]


def test_steps_train_and_gradients_flow_from_every_set():
    trainer = tiny_trainer()
    losses = []
    for step in range(6):
        batch = tiny_batch(4, seed=0)
        out = trainer.train_step(Batch(batch.inputs, two_sets(4, seed=step % 2), batch.labels))
        losses.append(float(out.loss))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-2] < losses[0] and losses[-1] < losses[1]  # same batches, same sets: the loss falls


def test_collator_batch_moves_and_pins_keep_the_tuple_form():
    collate = MaskCollator(TwoSetMasker(), (4, 4), seed=0)
    items = [(torch.zeros(3, 32, 32), 0, (0, 0, 0), ()) for _ in range(3)]
    batch = collate(items)
    assert isinstance(batch.masks, tuple) and len(batch.masks) == 2
    moved = batch.to("cpu")
    assert isinstance(moved.masks, tuple) and all(isinstance(m, MaskSet) for m in moved.masks)
    assert torch.equal(moved.masks[1].targets, batch.masks[1].targets)
    single = map_masks(batch.masks[0], lambda t: t + 0)
    assert isinstance(single, MaskSet)
    assert mask_sets(single) == (single,)
    with pytest.raises(TypeError, match="a MaskSet or a non-empty tuple of MaskSets"):
        mask_sets(())


def test_conformance_kit_accepts_multi_mask_maskers_and_checks_every_set():
    testing.check_masker(TwoSetMasker(), (4, 4), batch_size=3)
    pickle.dumps(TwoSetMasker())

    class Overlapping(TwoSetMasker):
        def __call__(self, batch_size, grid, generator):
            short, long = super().__call__(batch_size, grid, generator)
            return short, MaskSet(long.targets[:, 0, :], long.targets)  # context == targets

    with pytest.raises(AssertionError, match="mask set 1"):
        testing.check_masker(Overlapping(), (4, 4), batch_size=3)


def test_mask_pictures_draw_the_first_set_of_a_multi_mask_batch():
    batch = tiny_batch(2)
    pictures = MaskPictures(None, every=1).pictures(Batch(batch.inputs, two_sets(2), batch.labels), (4, 4))
    alone = MaskPictures(None, every=1).pictures(Batch(batch.inputs, two_sets(2)[0], batch.labels), (4, 4))
    assert torch.equal(pictures["masks"], alone["masks"])


# ------------------------------------------------------------------ two processes (DDP)
def _ddp_worker(rank: int, port: int, out: str) -> None:
    import os

    import torch.distributed as dist

    from jepa_core.dist import worker_process_group, wrap_ddp

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    with worker_process_group("gloo", rank=rank, world_size=2):
        trainer = tiny_trainer()
        trainer.context_path = wrap_ddp(trainer.context_path, torch.device("cpu"), static_graph=True)
        for step in range(3):
            batch = tiny_batch(4, seed=step)
            short, long = two_sets(4, seed=step)
            half = slice(2 * rank, 2 * rank + 2)
            masks = tuple(MaskSet(m.context[half], m.targets[half]) for m in (short, long))
            trainer.train_step(Batch(batch.inputs[half], masks, batch.labels[half]))
        torch.save(
            {k: v.detach().clone() for k, v in trainer.encoder.state_dict().items()},
            os.path.join(out, f"rank{rank}.pt"),
        )
        dist.barrier()  # both ranks done before teardown: gloo can abort a rank torn down mid-exchange


def test_two_ddp_processes_equal_one_process_on_multi_mask_batches(tmp_path):
    import torch.multiprocessing as mp

    from tests.jepa_core.test_parallel import free_port

    mp.spawn(_ddp_worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    single = tiny_trainer()
    for step in range(3):
        batch = tiny_batch(4, seed=step)
        single.train_step(Batch(batch.inputs, two_sets(4, seed=step), batch.labels))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for key, value in single.encoder.state_dict().items():
        torch.testing.assert_close(ranks[0][key], ranks[1][key], rtol=0, atol=0)
        torch.testing.assert_close(ranks[0][key], value, rtol=1e-4, atol=1e-5, msg=lambda m, key=key: f"{key}: {m}")


def test_a_predictor_taking_mask_index_is_told_which_set_it_serves():
    trainer = tiny_trainer()
    inner = trainer.context_path.predictor
    seen = []

    class PerSetPredictor(torch.nn.Module):  # wraps the ViT predictor; V-JEPA would pick a mask token
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, z, context_idx, target_idx, mask_index: int = 0):
            seen.append(mask_index)
            return self.inner(z, context_idx, target_idx)

    from jepa_core.trainer import ContextPath

    class PlainPredictor(torch.nn.Module):  # the Predictor protocol without mask_index
        def forward(self, z, context_idx, target_idx):
            return inner(z, context_idx, target_idx)

    path = ContextPath(trainer.encoder, PerSetPredictor())
    assert path.passes_mask_index and not ContextPath(trainer.encoder, PlainPredictor()).passes_mask_index
    batch = tiny_batch(2)
    short, long = two_sets(2)
    preds = path(batch.inputs, [short.context, long.context], [short.targets, long.targets])
    assert seen == [0, 1] and [p.shape[0] for p in preds] == [4, 2]
    path(batch.inputs, short.context, short.targets)  # single set: called as before, the default index
    assert seen == [0, 1, 0]
