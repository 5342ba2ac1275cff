"""Seeding Python's ``random`` and numpy's global RNG, which plugins may use besides torch's.

A run seeds them per rank from ``train.seed`` (:func:`seed_host_rngs` with
:func:`jepa_core.dist.rank_seed`), each DataLoader worker from its torch seed, and every sample
read through :class:`jepa_core.data.KeyedDataset` from the sample's key
(:func:`forked_host_rngs`), so a plugin drawing from them is reproducible.

>>> seed_host_rngs(7); a = random.random(); seed_host_rngs(7); a == random.random()
True
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

_MASK64 = (1 << 64) - 1


def _numpy_key(seed: int) -> list[int]:
    """Two 32-bit words of ``seed`` (numpy's legacy seeding takes at most 32 bits per word)."""
    s = int(seed) & _MASK64
    return [s & 0xFFFFFFFF, s >> 32]


def seed_host_rngs(seed: int) -> None:
    """Seed Python's ``random`` and numpy's global RNG from ``seed`` (any int)."""
    random.seed(int(seed))
    np.random.seed(_numpy_key(seed))


@contextmanager
def forked_host_rngs(seed: int) -> Iterator[None]:
    """Inside, ``random`` and numpy's global RNG are seeded from ``seed``; their states are restored after.

    >>> state = random.getstate()
    >>> with forked_host_rngs(3):
    ...     _ = random.random()
    >>> random.getstate() == state
    True
    """
    py_state, np_state = random.getstate(), np.random.get_state()
    seed_host_rngs(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
