"""Unreadable samples: the tally counts each one once and the draws that failed (substitute
attempts are not draws); the limit takes the bad fraction over drawn samples, judges it at every
log step, at every epoch end and at the end, and stops with the right numbers in the message."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import pytest
import torch

from jepa_core.bad_samples import BadSampleLimit, BadSampleTally
from jepa_core.data import BadSample, KeyedDataset
from jepa_core.errors import BadSampleError, DataError


class _Trainer:
    def __init__(self) -> None:
        self.step, self.epoch = 0, 0


def _bad(index: int, drawn: bool = True) -> BadSample:
    return BadSample(f"unreadable image 'img{index:02d}.png'", sample_index=index, drawn=drawn)


def _watch(*, total_steps: int, log_every: int, max_fraction: float, min_samples: int):
    tally = BadSampleTally()
    limit = BadSampleLimit(
        tally, max_fraction=max_fraction, min_samples=min_samples, log_every=log_every, total_steps=total_steps
    )
    return tally, limit


def _step(callbacks, trainer: _Trainer, batch: int, bad: tuple = ()) -> None:
    trainer.step += 1
    out = SimpleNamespace(batch_size=batch, bad_samples=bad)
    for callback in callbacks:
        callback.on_step_end(trainer, out)


def test_six_bad_of_sixty_four_stop_at_the_epoch_end_even_without_a_new_bad_sample():
    # 8 steps of 8; the bad samples all come early; no log step in the epoch (log_every=100)
    tally, limit = _watch(total_steps=1000, log_every=100, max_fraction=0.01, min_samples=64)
    trainer = _Trainer()
    for s in range(8):
        _step((tally, limit), trainer, 8, tuple(_bad(i) for i in range(6)) if s == 0 else ())
    with pytest.raises(
        DataError,
        match=r"^6 of 64 samples drawn were unreadable \(9\.4%\), more than "
        r"train\.max_bad_fraction=0\.01; e\.g\. unreadable image 'img00\.png'; "
        r"unreadable image 'img01\.png'; unreadable image 'img02\.png'$",
    ):
        limit.on_epoch_end(trainer, 0)


def test_examples_that_are_sentences_join_without_a_double_stop():
    tally, limit = _watch(total_steps=1000, log_every=100, max_fraction=0.01, min_samples=8)
    trainer = _Trainer()
    bad = tuple(BadSample(f"clip '{c}' holds no frames.", sample_index=i, drawn=True) for i, c in enumerate("ab"))
    _step((tally, limit), trainer, 8, bad)
    with pytest.raises(DataError, match=r"e\.g\. clip 'a' holds no frames; clip 'b' holds no frames$"):
        limit.on_epoch_end(trainer, 0)


def test_the_fraction_is_checked_at_every_log_step_once_enough_samples_were_drawn():
    for max_fraction in (0.1, 0.05):
        tally, limit = _watch(total_steps=1000, log_every=4, max_fraction=max_fraction, min_samples=32)
        trainer = _Trainer()
        _step((tally, limit), trainer, 8, (_bad(1), _bad(2)))  # 2 of 8 (25%): fewer than 32 drawn, not judged yet
        _step((tally, limit), trainer, 8)
        _step((tally, limit), trainer, 8)
        if max_fraction == 0.1:
            _step((tally, limit), trainer, 8)  # step 4, a log step: 2 of 32 (6.25%) is within 10%
            continue
        with pytest.raises(
            DataError,
            match=r"^2 of 32 samples drawn were unreadable \(6\.2%\), more than train\.max_bad_fraction=0\.05",
        ):
            _step((tally, limit), trainer, 8)  # step 4, a log step without a new bad sample


def test_each_unreadable_sample_is_counted_once_and_substitute_attempts_are_not_draws():
    tally = BadSampleTally()
    # epoch 0: samples 3, 4, 5 unreadable; drawing 3 also tries 4 and 5, drawing 4 also tries 5
    first = tally.record(16, (_bad(3), _bad(4, False), _bad(5, False), _bad(4), _bad(5, False), _bad(5)))
    names = ["unreadable image 'img03.png'", "unreadable image 'img04.png'", "unreadable image 'img05.png'"]
    assert first == names and tally.samples == names
    assert (tally.drawn, tally.bad_draws) == (16, 3)
    # epoch 1 draws them again: still three unreadable samples, now six bad draws of 32
    again = tally.record(16, (_bad(3), _bad(4, False), _bad(5, False), _bad(4), _bad(5, False), _bad(5)))
    assert again == [] and tally.samples == names
    assert (tally.drawn, tally.bad_draws) == (32, 6)


def test_plain_string_messages_are_their_own_key():
    # equal texts in distinct str objects (as after unpickling from DataLoader workers) are one sample
    tally = BadSampleTally()
    trainer = _Trainer()
    text = "unreadable image 'img07.png'"
    _step((tally,), trainer, 8, ("".join(text),))
    _step((tally,), trainer, 8, (pickle.loads(pickle.dumps(text)), "".join([text[:5], text[5:]])))
    assert tally.samples == [text] and tally.bad_draws == 3 and tally.drawn == 16


def test_the_end_of_a_short_run_is_checked_whatever_the_count():
    tally, limit = _watch(total_steps=2, log_every=100, max_fraction=0.1, min_samples=200)
    trainer = _Trainer()
    _step((tally, limit), trainer, 4, (_bad(1),))
    _step((tally, limit), trainer, 4)  # the last step: judged at the run's end, after its checkpoint
    with pytest.raises(DataError, match=r"^1 of 8 samples drawn were unreadable \(12\.5%\)"):
        limit.on_fit_end(trainer)  # whatever the count
    tally, limit = _watch(total_steps=100, log_every=100, max_fraction=0.1, min_samples=200)
    trainer = _Trainer()
    _step((tally, limit), trainer, 4, (_bad(1),))
    with pytest.raises(DataError, match=r"^1 of 4 samples drawn"):
        limit.on_fit_end(trainer)  # stopped early (max_steps, preemption): still checked


def test_many_distinct_repeats_are_named_in_the_message():
    tally, limit = _watch(total_steps=1000, log_every=1000, max_fraction=0.1, min_samples=1)
    trainer = _Trainer()
    _step((tally, limit), trainer, 8, (_bad(1), _bad(2)))
    trainer.epoch = 1
    _step((tally, limit), trainer, 8, (_bad(1), _bad(2)))
    with pytest.raises(DataError, match=r"^4 of 16 samples drawn were unreadable \(25\.0%, 2 distinct\)"):
        limit.on_epoch_end(trainer, 1)


def test_a_run_without_unreadable_samples_is_never_stopped():
    tally, limit = _watch(total_steps=3, log_every=1, max_fraction=0.0, min_samples=1)
    trainer = _Trainer()
    for _ in range(3):
        _step((tally, limit), trainer, 8)
    limit.on_epoch_end(trainer, 0)
    limit.on_fit_end(trainer)


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


def test_unreadable_samples_tried_in_place_of_a_draw_are_counted_apart():
    tally, limit = _watch(total_steps=1000, log_every=1000, max_fraction=0.001, min_samples=1)
    trainer = _Trainer()
    _step((tally, limit), trainer, 64, (_bad(1), _bad(2, drawn=False)))
    _step((tally, limit), trainer, 64, (_bad(2, drawn=False), _bad(3, drawn=False), _bad(3, drawn=False)))
    assert (tally.bad_draws, tally.distinct_drawn, tally.only_tried) == (1, 1, 2)
    with pytest.raises(
        DataError,
        match=r"^1 of 128 samples drawn were unreadable \(0\.8%, and 2 more met only among the samples tried in "
        r"their place\), ",
    ):
        limit.on_epoch_end(trainer, 1)
