"""The data path: resumable sampler, rank/accumulation slicing, bad samples, deterministic masks."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

from jepa_core.data import Batch, EpochBatchSampler, KeyedDataset, MaskCollator, build_loader, mix_seed, model_input
from jepa_core.errors import BadSampleError, DataError
from tests.toy_seq_plugin import SeqBlockConfig, SeqBlockMasker

GRID = (16,)


def _indices(batches) -> list[int]:
    return [key[3] for batch in batches for key in batch]


def _epoch(sampler: EpochBatchSampler, epoch: int, start_step: int = 0) -> list[list[tuple]]:
    sampler.set_epoch(epoch, start_step=start_step)
    return list(sampler)


# ---------------------------------------------------------------------------- sampler
def test_each_index_at_most_once_per_epoch():
    sampler = EpochBatchSampler(50, 4, seed=3)
    assert sampler.steps_per_epoch == 12 and len(sampler) == 12
    for epoch in range(3):
        batches = _epoch(sampler, epoch)
        idx = _indices(batches)
        assert len(batches) == 12 and all(len(b) == 4 for b in batches)
        assert len(idx) == 48 == len(set(idx)) and set(idx) <= set(range(50))
        assert all(key[0] == epoch for b in batches for key in b)
        assert [b[0][1] for b in batches] == list(range(12))  # the step is in the key


def test_order_differs_across_epochs_and_seeds_but_repeats_for_same_seed():
    a, b, c = EpochBatchSampler(64, 8, seed=0), EpochBatchSampler(64, 8, seed=0), EpochBatchSampler(64, 8, seed=1)
    assert _indices(_epoch(a, 0)) == _indices(_epoch(b, 0))
    assert _indices(_epoch(a, 0)) != _indices(_epoch(a, 1))
    assert _indices(_epoch(a, 0)) != _indices(_epoch(c, 0))
    assert _indices(_epoch(a, 5)) == _indices(_epoch(b, 5))  # any epoch, no history needed


def test_no_shuffle_is_in_order():
    sampler = EpochBatchSampler(10, 2, shuffle=False)
    assert _indices(_epoch(sampler, 4)) == list(range(10))


def test_set_epoch_start_step_resumes_at_the_right_place():
    sampler = EpochBatchSampler(64, 4, seed=7, accum_steps=2)
    full = _epoch(sampler, 2)
    resumed = _epoch(sampler, 2, start_step=3)
    assert resumed == full[3 * 2 :]  # 2 micro-batches per step
    assert len(sampler) == len(resumed) == (8 - 3) * 2
    assert _epoch(sampler, 2, start_step=8) == []


def test_fixed_steps_per_epoch_streams_fresh_permutations():
    # 10 samples, batch 4, 7 steps: 28 draws = 3 permutations (10 + 10 + 8), none repeated early.
    sampler = EpochBatchSampler(10, 4, seed=5, steps_per_epoch=7)
    assert sampler.steps_per_epoch == 7 and len(sampler) == 7
    idx = _indices(_epoch(sampler, 0))
    assert len(idx) == 28
    assert sorted(idx[:10]) == list(range(10)) and sorted(idx[10:20]) == list(range(10))
    assert idx[:10] != idx[10:20]  # a fresh permutation per round
    plain = EpochBatchSampler(10, 4, seed=5)
    assert idx[:8] == _indices(_epoch(plain, 0))  # round 0 is the plain epoch's order
    assert _indices(_epoch(sampler, 1)) != idx and _epoch(sampler, 0, start_step=5) == _epoch(sampler, 0)[5:]


def test_fixed_steps_per_epoch_may_be_shorter_than_the_data_and_allows_tiny_datasets():
    short = EpochBatchSampler(100, 4, seed=1, steps_per_epoch=3)
    assert len(set(_indices(_epoch(short, 0)))) == 12
    tiny = EpochBatchSampler(3, 4, seed=1, steps_per_epoch=2)  # fewer samples than a batch: still fine
    counts = [_indices(_epoch(tiny, 0)).count(i) for i in range(3)]
    assert sum(counts) == 8 and min(counts) >= 2 and max(counts) <= 3  # 3 permutations, cut at 8
    with pytest.raises(ValueError, match="steps_per_epoch must be >= 1"):
        EpochBatchSampler(10, 2, steps_per_epoch=0)


def test_world_and_accum_slicing_agree():
    """Ranks of world=2/accum=1 see exactly the micro-batches (keys) that world=1/accum=2 sees."""
    single = _epoch(EpochBatchSampler(100, 5, seed=11, accum_steps=2), 1)
    ranks = [_epoch(EpochBatchSampler(100, 5, seed=11, rank=r, world_size=2), 1) for r in range(2)]
    assert len(single) == 2 * len(ranks[0]) == 2 * len(ranks[1]) == 20
    for step in range(10):
        for r in range(2):
            assert ranks[r][step] == single[2 * step + r]
            assert {key[2] for key in ranks[r][step]} == {r}  # micro index g = k * world + rank
    # both ranks together cover each index at most once
    idx = _indices(ranks[0]) + _indices(ranks[1])
    assert len(idx) == len(set(idx)) == 100


def test_four_way_layouts_agree():
    base = _epoch(EpochBatchSampler(96, 3, seed=2, accum_steps=4), 0)
    mixed = [_epoch(EpochBatchSampler(96, 3, seed=2, rank=r, world_size=2, accum_steps=2), 0) for r in range(2)]
    for step in range(8):
        for k in range(2):
            for r in range(2):
                assert mixed[r][2 * step + k] == base[4 * step + 2 * k + r]


def test_too_small_dataset_is_a_data_error():
    with pytest.raises(DataError, match="10 samples, fewer than one global batch of 16"):
        EpochBatchSampler(10, 4, world_size=2, accum_steps=2)


# ----------------------------------------------------------------------- keyed dataset
class Flaky(Dataset):
    """Sample i is (rand(), i); indices in ``bad`` raise BadSampleError, ``broken`` raises ValueError."""

    def __init__(self, n: int = 8, bad=(), broken=()) -> None:
        self.n, self.bad, self.broken = n, set(bad), set(broken)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        if i in self.bad:
            raise BadSampleError(f"sample {i} is truncated")
        if i in self.broken:
            raise ValueError(f"bug at {i}")
        return torch.rand(2), i


def test_bad_sample_is_substituted_and_reported():
    ds = KeyedDataset(Flaky(bad={3, 4}), seed=0)
    x, label, position, bad = ds[(0, 1, 2, 3)]
    assert label == 5 and position == (0, 1, 2)
    assert bad == ("sample 3 is truncated", "sample 4 is truncated")
    assert ds[(0, 0, 0, 2)][3] == ()
    _, label, _, bad = KeyedDataset(Flaky(bad={7}), seed=0)[(0, 0, 0, 7)]
    assert label == 0 and bad == ("sample 7 is truncated",)  # wraps around


def test_too_many_bad_samples_is_a_data_error():
    with pytest.raises(DataError, match="3 consecutive samples from index 1 are unreadable"):
        KeyedDataset(Flaky(bad={1, 2, 3}), seed=0, max_substitutes=2)[(0, 0, 0, 1)]


def test_other_errors_propagate():
    with pytest.raises(ValueError, match="bug at 2"):
        KeyedDataset(Flaky(broken={2}), seed=0)[(0, 0, 0, 2)]


def test_augmentation_seeded_by_epoch_and_index():
    ds = KeyedDataset(Flaky(), seed=5)
    x1 = ds[(1, 0, 0, 4)][0]
    assert torch.equal(x1, ds[(1, 3, 1, 4)][0])  # position in the epoch does not matter
    assert not torch.equal(x1, ds[(2, 0, 0, 4)][0])  # a new epoch draws a new augmentation
    assert not torch.equal(x1, KeyedDataset(Flaky(), seed=6)[(1, 0, 0, 4)][0])
    state = torch.get_rng_state()
    ds[(0, 0, 0, 0)]
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is not disturbed


def test_a_dataset_with_deterministic_reads_is_read_without_seeding(monkeypatch):
    import jepa_core.data as data_module

    class Plain(Flaky):
        deterministic_reads = True

    forks = []
    real_fork = data_module.forked_host_rngs
    monkeypatch.setattr(data_module, "forked_host_rngs", lambda seed: forks.append(seed) or real_fork(seed))
    plain = KeyedDataset(Plain(bad={3}), seed=5)
    _, label, _, bad = plain[(1, 0, 0, 3)]
    assert (label, bad) == (4, ("sample 3 is truncated",)) and not forks  # substitution as before, no seeding
    KeyedDataset(Flaky(), seed=5)[(1, 0, 0, 3)]
    assert forks == [mix_seed(5, 1, 3)]  # any other dataset is seeded per sample


def test_loader_reports_bad_samples_in_the_batch():
    loader = build_loader(
        Flaky(n=8, bad={2}), SeqBlockMasker(SeqBlockConfig()), grid=GRID, micro_batch=8, seed=0, shuffle=False
    )
    (batch,) = list(loader)
    assert batch.bad_samples == ("sample 2 is truncated",)
    assert batch.labels.tolist() == [0, 1, 3, 3, 4, 5, 6, 7]


# ------------------------------------------------------------------------ mask collator
def _items(epoch: int, step: int, micro: int, n: int = 4):
    return [(torch.zeros(3), 0, (epoch, step, micro), ()) for _ in range(n)]


def test_masks_are_a_function_of_seed_epoch_step_micro():
    collate = MaskCollator(SeqBlockMasker(SeqBlockConfig(num_targets=2, block=3)), GRID, seed=0)
    first = collate(_items(1, 2, 3))
    assert isinstance(first, Batch) and first.masks.targets.shape == (4, 2, 3)
    again = MaskCollator(SeqBlockMasker(SeqBlockConfig(num_targets=2, block=3)), GRID, seed=0)(_items(1, 2, 3))
    assert torch.equal(first.masks.targets, again.masks.targets)
    assert torch.equal(first.masks.context, again.masks.context)
    for other in (_items(2, 2, 3), _items(1, 3, 3), _items(1, 2, 4)):
        assert not torch.equal(collate(other).masks.targets, first.masks.targets)
    other_seed = MaskCollator(SeqBlockMasker(SeqBlockConfig(num_targets=2, block=3)), GRID, seed=1)
    assert not torch.equal(other_seed(_items(1, 2, 3)).masks.targets, first.masks.targets)


class ProgressRecorder(SeqBlockMasker):
    """Records the training progress the collate passes (a curriculum masker's view)."""

    seen: list[float] = []

    def __call__(self, batch_size, grid, generator, progress: float = 0.0):
        ProgressRecorder.seen.append(progress)
        return super().__call__(batch_size, grid, generator)


def test_a_masker_taking_progress_gets_the_fraction_of_training_done():
    ProgressRecorder.seen = []
    collate = MaskCollator(ProgressRecorder(SeqBlockConfig()), GRID, seed=0, steps_per_epoch=4, total_steps=8)
    for epoch, step in ((0, 0), (0, 2), (1, 0), (1, 3), (5, 0)):
        collate(_items(epoch, step, 0))
    assert ProgressRecorder.seen == [0.0, 0.25, 0.5, 0.875, 1.0]
    MaskCollator(ProgressRecorder(SeqBlockConfig()), GRID, seed=0)(_items(3, 1, 0))  # run length unknown
    assert ProgressRecorder.seen[-1] == 0.0
    assert not MaskCollator(SeqBlockMasker(SeqBlockConfig()), GRID, seed=0).passes_progress  # called as before


def test_the_loader_knows_the_run_length_for_curricula():
    ProgressRecorder.seen = []
    loader = build_loader(Noisy(), ProgressRecorder(SeqBlockConfig()), grid=GRID, micro_batch=8, seed=0, epochs=2)
    loader.batch_sampler.set_epoch(1)
    list(loader)
    assert ProgressRecorder.seen == [0.5, 0.625, 0.75, 0.875]  # epoch 1 of 2, 4 steps per epoch


def test_mix_seed_is_order_sensitive():
    assert mix_seed(1, 2, 3) == mix_seed(1, 2, 3)
    assert len({mix_seed(1, 2, 3), mix_seed(3, 2, 1), mix_seed(1, 2), mix_seed(1, 2, 3, 0)}) == 4


class Noisy(Dataset):
    """32 samples of pure random "augmentation", seeded by the keyed dataset."""

    def __len__(self) -> int:
        return 32

    def __getitem__(self, i: int):
        return torch.randn(4), i


def test_loader_is_identical_across_worker_counts_and_layouts():
    masker = SeqBlockMasker(SeqBlockConfig())
    kwargs = dict(grid=GRID, micro_batch=4, seed=9)
    serial = list(build_loader(Noisy(), masker, accum_steps=2, **kwargs))
    workers = list(build_loader(Noisy(), masker, accum_steps=2, num_workers=2, **kwargs))
    rank1 = list(build_loader(Noisy(), masker, rank=1, world_size=2, **kwargs))
    assert len(serial) == len(workers) == 8 and len(rank1) == 4
    for a, b in zip(serial, workers, strict=True):
        assert torch.equal(a.inputs, b.inputs) and torch.equal(a.labels, b.labels)
        assert torch.equal(a.masks.context, b.masks.context) and torch.equal(a.masks.targets, b.masks.targets)
    for step, b in enumerate(rank1):
        a = serial[2 * step + 1]
        assert torch.equal(a.inputs, b.inputs) and torch.equal(a.masks.targets, b.masks.targets)


class AddNoise:
    """A batch transform: adds noise drawn from the collate's generator (picklable for workers)."""

    def __call__(self, inputs: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return inputs, inputs + torch.randn(inputs.shape, generator=generator)


class NoisyWithBatchTransform(Noisy):
    batch_transform = AddNoise()


def test_a_datasets_batch_transform_is_applied_per_batch_seeded_by_position():
    masker = SeqBlockMasker(SeqBlockConfig())
    kwargs = dict(grid=GRID, micro_batch=4, seed=9)
    plain = list(build_loader(Noisy(), masker, **kwargs))
    serial = list(build_loader(NoisyWithBatchTransform(), masker, **kwargs))
    workers = list(build_loader(NoisyWithBatchTransform(), masker, num_workers=2, **kwargs))
    noises = set()
    for p, a, b in zip(plain, serial, workers, strict=True):
        source, noisy = a.inputs
        assert torch.equal(source, p.inputs)  # the samples reach the transform unchanged
        assert torch.equal(noisy, b.inputs[1])  # independent of the worker count
        noises.add(round(float((noisy - source).sum()), 4))
    assert len(noises) == len(serial)  # each batch position draws its own noise
    resumed = build_loader(NoisyWithBatchTransform(), masker, **kwargs)
    resumed.batch_sampler.set_epoch(0, start_step=3)
    assert torch.equal(next(iter(resumed)).inputs[1], serial[3].inputs[1])  # resume draws the same


def test_a_batch_transform_needs_one_tensor_per_sample():
    collate = MaskCollator(SeqBlockMasker(SeqBlockConfig()), GRID, seed=0, batch_transform=AddNoise())
    items = [((torch.zeros(2), torch.zeros(2)), 0, (0, 0, 0), ())] * 2
    with pytest.raises(TypeError, match="one tensor per sample"):
        collate(items)


class _BatchWide:
    """A dataset whose samples are source images and whose views are drawn batch-wide."""

    @staticmethod
    def batch_transform(x: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, ...]:
        return x.float(), x.float()[..., :2, :2] + torch.rand(1, generator=g)


def test_model_input_is_the_sample_or_its_batch_wide_views():
    sample = torch.ones(3, 4, 4, dtype=torch.uint8)
    assert model_input(object(), sample, seed=0) is sample
    views = model_input(_BatchWide(), sample, seed=0)
    assert [tuple(v.shape) for v in views] == [(3, 4, 4), (3, 2, 2)]
    assert views[0].dtype == torch.float32
    assert torch.equal(views[1], model_input(_BatchWide(), sample, seed=0)[1])  # seeded
    assert not torch.equal(views[1], model_input(_BatchWide(), sample, seed=1)[1])
