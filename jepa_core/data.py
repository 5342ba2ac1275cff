"""Data path: resumable batch sampler -> keyed dataset -> collate (masker runs here) -> Batch.

Every random draw on the data side is a pure function of ``(seed, epoch, position)``: the
augmentation of sample ``i`` in epoch ``e`` and the masks of batch ``b`` do not depend on
worker count, process restarts or what ran before. That is what makes resume exact.

>>> loader = build_loader(dataset, masker, grid=(14, 14), micro_batch=64, seed=0)   # doctest: +SKIP
>>> loader.batch_sampler.set_epoch(3, start_step=10)                             # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import signal
from collections.abc import Callable, Sequence, Sized
from typing import Any, Protocol, cast, runtime_checkable

import attrs
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from jepa_core.errors import BadSampleError, DataError
from jepa_core.interfaces import Masker, Masks, map_masks
from jepa_core.seeding import forked_host_rngs, seed_host_rngs

_MIX = 0x9E3779B97F4A7C15
_MASK63 = (1 << 63) - 1


def mix_seed(*parts: int) -> int:
    """Deterministically combine integers into one 63-bit seed.

    >>> mix_seed(0, 1, 2) == mix_seed(0, 1, 2) != mix_seed(0, 2, 1)
    True
    """
    h = 0x243F6A8885A308D3
    for p in parts:
        h = ((h ^ (int(p) & _MASK63)) * _MIX + 0x632BE59BD9B4E019) & _MASK63
        h ^= h >> 29
    return h


class BadSample(str):
    """The message of one unreadable sample, remembering which sample it was.

    ``sample_index`` is its dataset index (so a file is counted once however often it is met) and
    ``drawn`` tells whether it was the sample the sampler drew (``True``) or one tried in its
    place after an earlier unreadable one (``False``), so bad fractions count draws only. (Not
    ``index``: that would hide ``str.index``.)

    >>> msg = BadSample("unreadable image 'a.png'", sample_index=3, drawn=True)
    >>> msg == "unreadable image 'a.png'", msg.sample_index, msg.drawn
    (True, 3, True)
    """

    sample_index: int
    drawn: bool

    def __new__(cls, text: str, *, sample_index: int, drawn: bool) -> BadSample:
        self = super().__new__(cls, text)
        self.sample_index, self.drawn = sample_index, drawn
        return self

    def __reduce__(self):  # DataLoader workers pickle it
        return (_bad_sample, (str(self), self.sample_index, self.drawn))


def _bad_sample(text: str, sample_index: int, drawn: bool) -> BadSample:
    return BadSample(text, sample_index=sample_index, drawn=drawn)


Inputs = torch.Tensor | tuple[torch.Tensor, ...]
"""A batch's inputs: ``[B, ...]``, or one such tensor per view when each sample is several
views (a multi-crop transform returns a tuple per sample; the collate stacks each position)."""


@attrs.frozen
class Batch:
    """One collated batch: inputs ``[B, ...]`` (or a tuple of views), its masks, labels ``[B]``
    and bad-sample report."""

    inputs: Inputs
    masks: Masks  # a MaskSet, a tuple of them (multi-mask), TokenViews, or None
    labels: torch.Tensor
    bad_samples: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(first_view(self.inputs).shape[0])

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        move = lambda t: t.to(device, non_blocking=non_blocking)  # noqa: E731
        return Batch(map_inputs(self.inputs, move), map_masks(self.masks, move), move(self.labels), self.bad_samples)

    def pin_memory(self) -> Batch:  # called by DataLoader(pin_memory=True)
        pin = lambda t: t.pin_memory()  # noqa: E731
        return Batch(map_inputs(self.inputs, pin), map_masks(self.masks, pin), pin(self.labels), self.bad_samples)


@runtime_checkable
class BatchTransform(Protocol):
    """Turns a stacked batch of samples into the model's inputs, drawing its randomness from
    ``generator`` (seeded by the batch's position, so resume stays exact): a dataset whose
    samples are the raw material of augmentations done batch-wide names one as its
    ``batch_transform`` attribute, and the collate applies it.

    >>> flip = lambda x, g: x.flip(-1) if torch.rand(1, generator=g) < 0.5 else x
    >>> isinstance(flip, BatchTransform)
    True
    """

    def __call__(self, inputs: torch.Tensor, generator: torch.Generator) -> Inputs: ...


def first_view(inputs: Inputs) -> torch.Tensor:
    """The inputs, or their first view (a global one) when a sample is several views."""
    return inputs[0] if isinstance(inputs, (tuple, list)) else inputs


def model_input(dataset: object, sample: Inputs, seed: int) -> Inputs:
    """One sample as the model receives it: ``sample`` itself, or, when ``dataset`` names a
    ``batch_transform`` (views drawn batch-wide), the transform's views of that sample alone.

    >>> class Flipped:
    ...     batch_transform = staticmethod(lambda x, g: (x, x.flip(-1)))
    >>> [tuple(v.shape) for v in model_input(Flipped(), torch.zeros(3, 4, 4), seed=0)]
    [(3, 4, 4), (3, 4, 4)]
    """
    transform = getattr(dataset, "batch_transform", None)
    if transform is None or not isinstance(sample, torch.Tensor):
        return sample
    views = transform(sample.unsqueeze(0), torch.Generator().manual_seed(seed))  # a batch of one
    return map_inputs(views, lambda v: v[0])


def map_inputs(inputs: Inputs, fn: Callable[[torch.Tensor], torch.Tensor]) -> Inputs:
    return tuple(fn(v) for v in inputs) if isinstance(inputs, (tuple, list)) else fn(inputs)


def dataset_len(dataset: Dataset) -> int:
    """``len(dataset)``: datasets here are map-style and sized (torch's ``Dataset`` base class
    does not declare ``__len__``)."""
    if not isinstance(dataset, Sized):
        raise TypeError(f"{type(dataset).__name__} has no __len__; a dataset must be map-style with a length")
    return len(dataset)


def stack_inputs(samples: Sequence[Any]) -> Inputs:
    """Stack per-sample inputs; samples that are tuples of views are stacked view by view."""
    if isinstance(samples[0], (tuple, list)):
        return tuple(torch.stack(views) for views in zip(*samples, strict=True))
    return torch.stack(list(samples))


class EpochBatchSampler(Sampler):
    """Shuffles per epoch from ``(seed, epoch)`` and yields this rank's micro-batches.

    One optimizer step consumes a global batch of ``micro_batch * world_size * accum_steps``
    samples, cut into ``world_size * accum_steps`` micro-batches; micro-batch ``g = k *
    world_size + rank`` is the ``k``-th one this rank sees in the step. Keys are
    ``(epoch, step, g, sample_index)``: masks are seeded by ``g``, so one process with
    ``accum_steps=2`` sees exactly the micro-batches (and masks) that two processes do.
    The last partial global batch is dropped. ``set_epoch(e, start_step=k)`` resumes mid-epoch.

    ``steps_per_epoch`` fixes an epoch's length in steps whatever the dataset's size (V-JEPA
    counts 300 iterations per "epoch"): the epoch's order is then a stream of permutations
    (a fresh one, seeded by ``(seed, epoch, round)``, each time the last one runs out).
    """

    def __init__(
        self,
        num_samples: int,
        micro_batch: int,
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        accum_steps: int = 1,
        shuffle: bool = True,
        steps_per_epoch: int | None = None,
    ) -> None:
        for name, value in (("micro_batch", micro_batch), ("world_size", world_size), ("accum_steps", accum_steps)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value!r}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size - 1}] for world_size {world_size}, got {rank!r}")
        self.num_samples, self.micro_batch = num_samples, micro_batch
        self.seed, self.rank, self.world_size, self.shuffle = seed, rank, world_size, shuffle
        self.accum_steps = accum_steps
        self.global_batch = micro_batch * world_size * accum_steps
        if steps_per_epoch is not None and steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch!r}")
        if num_samples < 1:
            raise DataError("the dataset is empty.")
        self.fixed_length = steps_per_epoch is not None
        self.steps_per_epoch = steps_per_epoch if steps_per_epoch is not None else num_samples // self.global_batch
        if self.steps_per_epoch == 0:
            raise DataError(
                f"the dataset has {num_samples} samples, fewer than one global batch of "
                f"{self.global_batch}; lower train.batch_size."
            )
        self.epoch, self.start_step = 0, 0

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        self.epoch, self.start_step = epoch, start_step

    def order(self, epoch: int) -> torch.Tensor:
        """Sample indices of ``epoch`` in the order they are used (at least one epoch's worth)."""
        rounds = 1
        if self.fixed_length:
            rounds = -(-self.steps_per_epoch * self.global_batch // self.num_samples)  # ceil
        if not self.shuffle:
            return torch.arange(self.num_samples).repeat(rounds)
        perms = []
        for r in range(rounds):
            seed = mix_seed(self.seed, epoch) if r == 0 else mix_seed(self.seed, epoch, r)
            perms.append(torch.randperm(self.num_samples, generator=torch.Generator().manual_seed(seed)))
        return torch.cat(perms)

    def __iter__(self):
        order = self.order(self.epoch)
        for step in range(self.start_step, self.steps_per_epoch):
            chunk = order[step * self.global_batch : (step + 1) * self.global_batch]
            for k in range(self.accum_steps):
                g = k * self.world_size + self.rank
                mine = chunk[g * self.micro_batch : (g + 1) * self.micro_batch]
                yield [(self.epoch, step, g, int(i)) for i in mine]

    def __len__(self) -> int:
        return (self.steps_per_epoch - self.start_step) * self.accum_steps


class KeyedDataset(Dataset):
    """Wraps a map-style dataset: seeds augmentation per sample and skips unreadable samples.

    Each read runs with torch's CPU RNG, Python's ``random`` and numpy's global RNG seeded from
    ``(seed, epoch, index)`` and restored afterwards, so a sample's augmentation depends on
    nothing else (worker count, earlier reads) and the caller's RNG streams are untouched.
    A :class:`BadSampleError` from the inner dataset marks the sample bad; the next index that
    reads is used in its place and each unreadable one tried is reported with the batch as a
    :class:`BadSample`. A dataset whose reads draw no random numbers (its augmentations, if any,
    are its ``batch_transform``'s) says so with a true ``deterministic_reads`` attribute, and its
    reads run without the seeding, which costs tens of microseconds per sample.
    """

    def __init__(self, dataset: Dataset, seed: int, max_substitutes: int = 64) -> None:
        self.dataset, self.seed, self.max_substitutes = dataset, seed, max_substitutes
        self.seeded = not getattr(dataset, "deterministic_reads", False)

    def __len__(self) -> int:
        return dataset_len(self.dataset)

    def __getitem__(self, key: tuple[int, int, int, int]):
        epoch, step, micro, index = key
        bad: list[str] = []
        n = len(self)
        for attempt in range(min(self.max_substitutes, n - 1) + 1):
            i = (index + attempt) % n
            try:
                x, y = self._read(epoch, i)
            except BadSampleError as err:
                bad.append(BadSample(str(err), sample_index=i, drawn=attempt == 0))
                continue
            return x, int(y), (epoch, step, micro), tuple(bad)
        raise DataError(f"{len(bad)} consecutive samples from index {index} are unreadable, e.g. {bad[0]}")

    def _read(self, epoch: int, i: int) -> tuple[Any, Any]:
        """Sample ``i``, read with the host RNGs seeded from ``(seed, epoch, i)`` unless its reads are deterministic."""
        if not self.seeded:
            return self.dataset[i]
        sample_seed = mix_seed(self.seed, epoch, i)
        with torch.random.fork_rng(devices=[]), forked_host_rngs(sample_seed):  # CUDA's RNG is never touched
            torch.default_generator.manual_seed(sample_seed)
            return self.dataset[i]


class MaskCollator:
    """Stacks samples, applies the dataset's :class:`BatchTransform` if it has one, and draws the
    batch's masks; each from its own generator seeded by the batch's position.

    A masker whose ``__call__`` has a ``progress`` parameter (a curriculum, e.g. A-JEPA's) is
    also given the fraction of training done at this batch, ``(epoch * steps_per_epoch + step)
    / total_steps`` clipped to [0, 1] (0 when ``total_steps`` is unknown).
    """

    def __init__(
        self,
        masker: Masker,
        grid: Sequence[int],
        seed: int,
        *,
        steps_per_epoch: int = 0,
        total_steps: int = 0,
        batch_transform: BatchTransform | None = None,
    ) -> None:
        self.masker, self.grid, self.seed = masker, tuple(grid), seed
        self.batch_transform = batch_transform
        self.steps_per_epoch, self.total_steps = steps_per_epoch, total_steps
        call = masker.__call__ if callable(masker) else None
        try:
            self.passes_progress = call is not None and "progress" in inspect.signature(call).parameters
        except (TypeError, ValueError):  # builtins without a signature
            self.passes_progress = False

    def progress(self, epoch: int, step: int) -> float:
        """Fraction of training done at ``(epoch, step)``, in [0, 1]."""
        if self.total_steps <= 0:
            return 0.0
        return min(1.0, max(0.0, (epoch * self.steps_per_epoch + step) / self.total_steps))

    def __call__(self, items: list[tuple[Any, ...]]) -> Batch:
        inputs = stack_inputs([it[0] for it in items])
        labels = torch.tensor([it[1] for it in items], dtype=torch.long)
        epoch, step, micro = items[0][2]
        if self.batch_transform is not None:
            if not isinstance(inputs, torch.Tensor):
                raise TypeError("a dataset with a batch_transform must return one tensor per sample, not views")
            views_gen = torch.Generator().manual_seed(mix_seed(self.seed, epoch, step, micro, 0x56494557))
            inputs = self.batch_transform(inputs, views_gen)
        g = torch.Generator().manual_seed(mix_seed(self.seed, epoch, step, micro, 0x4D41534B))
        if self.passes_progress:  # its signature was checked to take ``progress``
            masker = cast(Callable[..., Masks], self.masker)
            masks = masker(len(items), self.grid, g, progress=self.progress(epoch, step))
        else:
            masks = self.masker(len(items), self.grid, g)
        bad = tuple(msg for it in items for msg in it[3])
        return Batch(inputs, masks, labels, bad)


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)
    if hasattr(signal, "SIGHUP"):  # a closed terminal stops the main process, which stops the workers
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    seed_host_rngs(torch.initial_seed())  # the worker's own seed, drawn from the loader's seeded generator


def build_loader(
    dataset: Dataset,
    masker: Masker,
    *,
    grid: Sequence[int],
    micro_batch: int,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    accum_steps: int = 1,
    num_workers: int = 0,
    pin_memory: bool = False,
    shuffle: bool = True,
    steps_per_epoch: int | None = None,
    epochs: int | None = None,
) -> DataLoader:
    """A DataLoader yielding micro-batches (:class:`Batch`) from an :class:`EpochBatchSampler`.

    ``epochs`` (the run's length) lets a curriculum masker know its progress (see :class:`MaskCollator`);
    a ``batch_transform`` attribute of ``dataset`` (a :class:`BatchTransform`) is applied to each
    stacked batch.

    >>> grid = parts.encoder.token_grid  # doctest: +SKIP
    >>> loader = build_loader(dataset, parts.masker, grid=grid, micro_batch=64, seed=0)  # doctest: +SKIP
    >>> batch = next(iter(loader)); len(batch), batch.masks.targets.shape  # doctest: +SKIP
    (64, torch.Size([64, 4, 6]))
    """
    sampler = EpochBatchSampler(
        dataset_len(dataset),
        micro_batch,
        seed=seed,
        rank=rank,
        world_size=world_size,
        accum_steps=accum_steps,
        shuffle=shuffle,
        steps_per_epoch=steps_per_epoch,
    )
    total = (epochs or 0) * sampler.steps_per_epoch
    return DataLoader(
        KeyedDataset(dataset, seed),
        batch_sampler=sampler,
        collate_fn=MaskCollator(
            masker,
            grid,
            seed,
            steps_per_epoch=sampler.steps_per_epoch,
            total_steps=total,
            batch_transform=getattr(dataset, "batch_transform", None),
        ),
        num_workers=num_workers,
        pin_memory=pin_memory,
        worker_init_fn=_worker_init if num_workers else None,
        prefetch_factor=4 if num_workers else None,
        persistent_workers=False,
        # Its own generator: each epoch's iterator draws a worker base seed, which must not
        # advance the global RNG (model-side randomness), or a resumed run would diverge.
        generator=torch.Generator().manual_seed(seed),
    )
