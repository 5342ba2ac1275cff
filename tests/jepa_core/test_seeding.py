"""Python's ``random`` and numpy's global RNG are seeded from the run seed (per rank, per
DataLoader worker, and per sample read), so plugins that use them are reproducible."""

from __future__ import annotations

import random

import numpy as np
import torch

from jepa_core import checkpoint as ckpt
from jepa_core.cli import main
from jepa_core.data import KeyedDataset, _worker_init
from jepa_core.seeding import forked_host_rngs, seed_host_rngs

TOY = [
    "--no-autoload",
    "-p",
    "tests.toy_seq_plugin",
    "train",
    "--plugin",
    "toyseq",
    "--preset",
    "tiny",
    "--set",
    "train.device=cpu",
    "--set",
    "train.max_steps=1",
    "--set",
    "train.seed=7",
]


def _host_states(run) -> tuple:
    rng = ckpt.load_checkpoint(ckpt.latest_checkpoint(run / "checkpoints"))["rng"]
    return rng["python"], rng["numpy"]["keys"], rng["numpy"]["pos"]


def test_two_identical_runs_save_identical_python_and_numpy_states(tmp_path, capsys):
    states = []
    for n in range(2):
        random.seed(n)  # whatever the process did before (a fresh one starts from OS entropy)
        np.random.seed(n + 100)
        assert main([*TOY, "--out", str(tmp_path / f"run{n}")]) == 0, capsys.readouterr().err
        states.append(_host_states(tmp_path / f"run{n}"))
    (py_a, keys_a, pos_a), (py_b, keys_b, pos_b) = states
    assert py_a == py_b and pos_a == pos_b and torch.equal(keys_a, keys_b)


class _HostRandom(torch.utils.data.Dataset):
    """A plugin dataset whose augmentation uses Python's random and numpy."""

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        return torch.tensor([random.random(), float(np.random.rand())]), i


def test_each_sample_read_is_seeded_by_its_key_and_leaves_the_global_streams_alone():
    ds = KeyedDataset(_HostRandom(), seed=3)
    seed_host_rngs(0)
    before = random.getstate(), np.random.get_state()[1].copy()
    a = ds[(0, 0, 0, 2)][0]
    random.random(), np.random.rand()  # other draws in between do not matter
    b = ds[(0, 5, 1, 2)][0]  # same epoch and index: same augmentation
    c = ds[(1, 0, 0, 2)][0]  # another epoch: another one
    assert torch.equal(a, b) and not torch.equal(a, c)
    seed_host_rngs(0)
    ds[(0, 0, 0, 1)]
    assert random.getstate() == before[0] and np.array_equal(np.random.get_state()[1], before[1])


def test_dataloader_workers_seed_python_and_numpy_from_their_torch_seed():
    threads = torch.get_num_threads()
    torch.manual_seed(1234)  # what the DataLoader gives worker k: base_seed + k
    try:
        with forked_host_rngs(0):
            _worker_init(0)
            drawn = random.random(), float(np.random.rand())
    finally:
        torch.set_num_threads(threads)  # the worker set-up also pins one thread
    with forked_host_rngs(0):
        seed_host_rngs(1234)
        expected = random.random(), float(np.random.rand())
    assert drawn == expected


def test_seed_host_rngs_accepts_any_63_bit_seed():
    seed_host_rngs(2**63 - 1)
    a = random.random(), float(np.random.rand())
    seed_host_rngs(2**63 - 1)
    assert (random.random(), float(np.random.rand())) == a
