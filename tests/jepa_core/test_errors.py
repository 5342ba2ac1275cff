"""A user error raised inside a DataLoader worker still reaches the user as one sentence."""

from __future__ import annotations

import pytest
from torch.utils.data import DataLoader, Dataset

from jepa_core.errors import DataError, user_message


class _Broken(Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int):
        raise DataError("folder '/data/x' holds no readable images.")


def test_worker_error_is_reduced_to_its_sentence():
    loader = DataLoader(_Broken(), batch_size=1, num_workers=1)
    with pytest.raises(DataError) as info:
        next(iter(loader))
    assert "Traceback" in str(info.value)  # torch re-raises with the worker traceback
    assert user_message(info.value) == "folder '/data/x' holds no readable images."


def test_plain_error_message_is_unchanged():
    assert user_message(DataError("bad path '/y'.")) == "bad path '/y'."


def test_cli_prints_one_line_for_a_worker_error(monkeypatch, capsys):
    from jepa_core import cli

    def fail(*_a, **_k):
        loader = DataLoader(_Broken(), batch_size=1, num_workers=1)
        next(iter(loader))

    monkeypatch.setattr("jepa_core.cli.train.train_run", fail)
    code = cli.main(["train", "--plugin", "image", "--preset", "demo", "--out", "/tmp/unused-run"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == "error: folder '/data/x' holds no readable images."
