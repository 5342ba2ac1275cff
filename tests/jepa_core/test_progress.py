"""Bad-sample accounting in the progress logger: each unreadable sample counted once, the bad
fraction taken over drawn samples (substitute attempts do not count) and checked at every log
step, at every epoch end and at the end, with the right numbers in the message."""

from __future__ import annotations

import io
import pickle
from types import SimpleNamespace

import pytest
import torch

from jepa_core.data import BadSample, KeyedDataset
from jepa_core.errors import BadSampleError, DataError
from jepa_core.progress import ProgressLogger


class _Trainer:
    def __init__(self) -> None:
        self.step, self.epoch = 0, 0
        self.first_nonfinite_step = torch.tensor(-1)
        self.schedules = SimpleNamespace(
            learning_rate=lambda s: 1e-3, weight_decay_at=lambda s: 0.0, momentum=lambda s: 0.99
        )


def _bad(index: int, drawn: bool = True) -> BadSample:
    return BadSample(f"unreadable image 'img{index:02d}.png'", sample_index=index, drawn=drawn)


def _step(logger: ProgressLogger, trainer: _Trainer, batch: int, bad: tuple = ()) -> None:
    trainer.step += 1
    out = SimpleNamespace(
        loss=torch.tensor(0.5),
        batch_size=batch,
        bad_samples=bad,
        lr=1e-3,
        weight_decay=0.0,
        momentum=0.99,
        grad_norm=torch.tensor(1.0),
        step=trainer.step - 1,
    )
    logger.on_step_end(trainer, out)


def test_six_bad_of_sixty_four_stop_at_the_epoch_end_even_without_a_new_bad_sample():
    # 8 steps of 8; the bad samples all come early; no log step in the epoch (log_every=100)
    logger = ProgressLogger(
        total_steps=1000, log_every=100, stream=None, max_bad_fraction=0.01, min_samples_for_bad_check=64
    )
    trainer = _Trainer()
    for s in range(8):
        _step(logger, trainer, 8, tuple(_bad(i) for i in range(6)) if s == 0 else ())
    with pytest.raises(
        DataError,
        match=r"^6 of 64 samples drawn were unreadable \(9\.4%\), more than "
        r"train\.max_bad_fraction=0\.01; e\.g\. unreadable image 'img00\.png'; "
        r"unreadable image 'img01\.png'; unreadable image 'img02\.png'$",
    ):
        logger.on_epoch_end(trainer, 0)


def test_the_fraction_is_checked_at_every_log_step_once_enough_samples_were_drawn():
    for limit in (0.1, 0.05):
        logger = ProgressLogger(
            total_steps=1000, log_every=4, stream=None, max_bad_fraction=limit, min_samples_for_bad_check=32
        )
        trainer = _Trainer()
        _step(logger, trainer, 8, (_bad(1), _bad(2)))  # 2 of 8 (25%): fewer than 32 drawn, not judged yet
        _step(logger, trainer, 8)
        _step(logger, trainer, 8)
        if limit == 0.1:
            _step(logger, trainer, 8)  # step 4, a log step: 2 of 32 (6.25%) is within 10%
            continue
        with pytest.raises(
            DataError,
            match=r"^2 of 32 samples drawn were unreadable \(6\.2%\), more than "
            r"train\.max_bad_fraction=0\.05",
        ):
            _step(logger, trainer, 8)  # step 4, a log step without a new bad sample


def test_each_unreadable_sample_is_counted_once_and_substitute_attempts_are_not_draws():
    out = io.StringIO()
    logger = ProgressLogger(
        total_steps=1000, log_every=1000, stream=out, max_bad_fraction=0.5, min_samples_for_bad_check=10_000
    )
    trainer = _Trainer()
    # epoch 0: samples 3, 4, 5 unreadable; drawing 3 also tries 4 and 5, drawing 4 also tries 5
    _step(logger, trainer, 16, (_bad(3), _bad(4, False), _bad(5, False), _bad(4), _bad(5, False), _bad(5)))
    assert logger.bad_samples == [
        "unreadable image 'img03.png'",
        "unreadable image 'img04.png'",
        "unreadable image 'img05.png'",
    ]
    assert logger.bad_draws == 3
    # epoch 1 draws them again: still three unreadable samples, now six bad draws of 32
    _step(logger, trainer, 16, (_bad(3), _bad(4, False), _bad(5, False), _bad(4), _bad(5, False), _bad(5)))
    assert len(logger.bad_samples) == 3 and logger.bad_draws == 6
    logger.on_fit_end(trainer)
    lines = out.getvalue().splitlines()
    assert [line for line in lines if line.startswith("skipped sample")] == [
        "skipped sample 1: unreadable image 'img03.png'",
        "skipped sample 2: unreadable image 'img04.png'",
        "skipped sample 3: unreadable image 'img05.png'",
    ]
    assert lines[-1].startswith("skipped 3 unreadable samples (6 of 32 samples drawn; the next readable sample")


def test_plain_string_messages_are_their_own_key():
    # equal texts in distinct str objects (as after unpickling from DataLoader workers) are one sample
    logger = ProgressLogger(
        total_steps=1000, log_every=1000, stream=None, max_bad_fraction=0.5, min_samples_for_bad_check=10_000
    )
    trainer = _Trainer()
    text = "unreadable image 'img07.png'"
    _step(logger, trainer, 8, ("".join(text),))
    _step(logger, trainer, 8, (pickle.loads(pickle.dumps(text)), "".join([text[:5], text[5:]])))
    assert logger.bad_samples == [text] and logger.bad_draws == 3


def test_the_end_of_a_short_run_is_checked_whatever_the_count():
    logger = ProgressLogger(
        total_steps=2, log_every=100, stream=None, max_bad_fraction=0.1, min_samples_for_bad_check=200
    )
    trainer = _Trainer()
    _step(logger, trainer, 4, (_bad(1),))
    with pytest.raises(DataError, match=r"^1 of 8 samples drawn were unreadable \(12\.5%\)"):
        _step(logger, trainer, 4)  # the last step (total_steps): the run's end, judged whatever the count
    logger = ProgressLogger(
        total_steps=100, log_every=100, stream=None, max_bad_fraction=0.1, min_samples_for_bad_check=200
    )
    trainer = _Trainer()
    _step(logger, trainer, 4, (_bad(1),))
    with pytest.raises(DataError, match=r"^1 of 4 samples drawn"):
        logger.on_fit_end(trainer)  # stopped early (max_steps, preemption): still checked


def test_many_distinct_repeats_are_named_in_the_message():
    logger = ProgressLogger(
        total_steps=1000, log_every=1000, stream=None, max_bad_fraction=0.1, min_samples_for_bad_check=1
    )
    trainer = _Trainer()
    _step(logger, trainer, 8, (_bad(1), _bad(2)))
    trainer.epoch = 1
    _step(logger, trainer, 8, (_bad(1), _bad(2)))
    with pytest.raises(DataError, match=r"^4 of 16 samples drawn were unreadable \(25\.0%, 2 distinct\)"):
        logger.on_epoch_end(trainer, 1)


class _Flaky(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int):
        if i in (1, 2):
            raise BadSampleError(f"sample {i} is corrupt")
        return torch.zeros(1), i


def test_keyed_dataset_marks_which_unreadable_sample_was_drawn_and_survives_pickling():
    _, y, _, bad = KeyedDataset(_Flaky(), seed=0)[(0, 0, 0, 1)]
    assert y == 3
    assert [(b.sample_index, b.drawn) for b in bad] == [(1, True), (2, False)]
    again = pickle.loads(pickle.dumps(bad))  # DataLoader workers send it back pickled
    assert again == bad and [(b.sample_index, b.drawn) for b in again] == [(1, True), (2, False)]
    assert again[0].index("corrupt") == str(again[0]).index("corrupt")  # still a whole str


def test_the_loss_log_on_a_full_disk_is_one_sentence(tmp_path):
    from jepa_core.errors import OutputError
    from jepa_core.progress import LossLog
    from tests.jepa_core.mounts import fill, tmpfs

    with tmpfs(tmp_path / "disk", size="64k") as disk:
        log = LossLog(disk / "losses.tsv", log_every=1000)
        fill(disk)
        trainer = _Trainer()
        trainer.step = 1  # not a log step: the loss waits on the device
        log.on_step_end(trainer, SimpleNamespace(step=0, loss=torch.tensor(0.5)))
        with pytest.raises(
            OutputError,
            match=r"^could not write the loss log '.*losses\.tsv' \(the disk is full\); "
            r"free some space or choose another path\.$",
        ):
            log.flush()
