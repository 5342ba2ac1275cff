"""The progress logger reports unreadable samples from the run's tally (each named once on the
console, up to a limit, and summed up at the end) and never stops a run itself; the loss log on
a full disk is one sentence."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
import torch

from jepa_core.absent import NoTarget
from jepa_core.bad_samples import BadSampleTally
from jepa_core.data import BadSample
from jepa_core.progress import MAX_BAD_SAMPLES_PRINTED, ProgressLogger


class _Trainer:
    def __init__(self) -> None:
        self.step, self.epoch = 0, 0
        self.first_nonfinite_step = torch.tensor(-1)
        self.schedules = SimpleNamespace(
            learning_rate=lambda s: 1e-3, weight_decay_at=lambda s: 0.0, momentum=lambda s: 0.99
        )


def _bad(index: int, drawn: bool = True) -> BadSample:
    return BadSample(f"unreadable image 'img{index:02d}.png'", sample_index=index, drawn=drawn)


def _step(callbacks, trainer: _Trainer, batch: int, bad: tuple = ()) -> None:
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
    for callback in callbacks:
        callback.on_step_end(trainer, out)


def test_each_unreadable_sample_is_named_once_and_summed_up_at_the_end():
    out = io.StringIO()
    tally = BadSampleTally()
    logger = ProgressLogger(total_steps=1000, log_every=1000, stream=out, bad_samples=tally)
    trainer = _Trainer()
    # epoch 0: samples 3, 4, 5 unreadable; drawing 3 also tries 4 and 5, drawing 4 also tries 5
    _step((tally, logger), trainer, 16, (_bad(3), _bad(4, False), _bad(5, False), _bad(4), _bad(5, False), _bad(5)))
    # epoch 1 draws them again: still three unreadable samples, now six bad draws of 32
    _step((tally, logger), trainer, 16, (_bad(3), _bad(4, False), _bad(5, False), _bad(4), _bad(5, False), _bad(5)))
    logger.on_fit_end(trainer)
    lines = out.getvalue().splitlines()
    assert [line for line in lines if line.startswith("skipped sample")] == [
        "skipped sample 1: unreadable image 'img03.png'",
        "skipped sample 2: unreadable image 'img04.png'",
        "skipped sample 3: unreadable image 'img05.png'",
    ]
    assert lines[-1].startswith("skipped 3 unreadable samples (6 of 32 samples drawn; the next readable sample")


def test_only_the_first_unreadable_samples_are_named():
    out = io.StringIO()
    tally = BadSampleTally()
    logger = ProgressLogger(total_steps=1000, log_every=1, stream=out, bad_samples=tally)
    trainer = _Trainer()
    _step((tally, logger), trainer, 32, tuple(_bad(i) for i in range(MAX_BAD_SAMPLES_PRINTED + 5)))
    named = [line for line in out.getvalue().splitlines() if line.startswith("skipped sample")]
    assert len(named) == MAX_BAD_SAMPLES_PRINTED
    assert named[-1].endswith("(further ones are only counted)")
    assert f"| {MAX_BAD_SAMPLES_PRINTED + 5} bad samples" in out.getvalue()  # the step line counts them all


def test_the_logger_never_stops_a_run():
    tally = BadSampleTally()
    logger = ProgressLogger(total_steps=2, log_every=1, stream=None, bad_samples=tally)
    trainer = _Trainer()
    for _ in range(2):
        _step((tally, logger), trainer, 4, tuple(_bad(i) for i in range(4)))  # every sample unreadable
    logger.on_fit_end(trainer)
    assert tally.bad_draws == 8


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


@pytest.mark.parametrize("target", [None, NoTarget()])
def test_the_step_line_shows_the_ema_momentum_only_for_runs_with_a_target(target):
    out = io.StringIO()
    logger = ProgressLogger(total_steps=2, log_every=1, stream=out)
    trainer = _Trainer()
    trainer.target = target
    _step((logger,), trainer, 8)
    line = out.getvalue().splitlines()[-1]
    assert line.startswith("step      1/2 | epoch 0 | loss 0.5000 | lr 1.00e-03 | wd 0.000")
    assert ("| ema 0.9900 |" in line) is (target is None)


class _Scalars:
    def __init__(self) -> None:
        self.values: dict[str, list[tuple[int, float]]] = {}

    def add_scalar(self, name: str, value: float, step: int) -> None:
        self.values.setdefault(name, []).append((step, value))

    def flush(self) -> None: ...

    def close(self) -> None: ...


def _timed_run(monkeypatch, wait_per_step: float, **logger_options) -> tuple[str, _Scalars]:
    """Four steps of one second each on a fake clock, ``wait_per_step`` of each waiting for data."""
    import jepa_core.progress as progress_module

    now = [0.0]
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: now[0])
    out, scalars = io.StringIO(), _Scalars()
    logger = ProgressLogger(total_steps=4, log_every=2, stream=out, writer=scalars, **logger_options)
    trainer = _Trainer()
    trainer.data_wait_seconds = 7.0  # from an earlier fit: not this run's
    logger.on_fit_start(trainer)
    for _ in range(4):
        now[0] += 1.0
        trainer.data_wait_seconds += wait_per_step
        _step((logger,), trainer, 8)
    logger.on_fit_end(trainer)
    return out.getvalue().splitlines()[-1], scalars


def test_the_end_line_gives_the_share_of_time_spent_waiting_for_data(monkeypatch):
    line, scalars = _timed_run(monkeypatch, 0.25, data_workers=8, cores=16)
    assert line == "trained on 32 images in 0m04s: 8 img/s on average, 25% of that time waiting for data"
    assert scalars.values["perf/data_wait_fraction"] == [(2, pytest.approx(0.25)), (4, pytest.approx(0.25))]


def test_speeds_are_in_the_datasets_unit(monkeypatch):
    line, _ = _timed_run(monkeypatch, 0.0, sample_noun="clips")
    assert line.startswith("trained on 32 clips in 0m04s: 8 clips/s on average")


def test_the_built_in_datasets_name_their_samples():
    from jepa_core.registry import build_registry

    registry = build_registry()
    nouns = {name: registry.get("dataset", name).sample_noun for name in ("image_folder", "synthetic_shapes")}
    nouns |= {name: registry.get("dataset", name).sample_noun for name in ("video_frames", "video_files", "wav_folder")}
    assert nouns == {
        "image_folder": "images",
        "synthetic_shapes": "images",
        "video_frames": "clips",
        "video_files": "clips",
        "wav_folder": "clips",
    }


@pytest.mark.parametrize(
    ("wait", "workers", "cores", "hint"),
    [
        (0.5, 0, 16, "; with 16 cores, --set train.num_workers=8 (now 0) may train faster"),
        (0.5, 2, 8, "; with 8 cores, --set train.num_workers=4 (now 2) may train faster"),
        (0.5, 10, 32, "; with 32 cores, --set train.num_workers=16 (now 10) may train faster"),
        (0.5, 0, 2, ""),  # no cores to spare for workers
        (0.5, 8, 16, ""),  # already as many workers as the cores allow
        (0.1, 0, 16, ""),  # the input did not hold training back
        (0.5, None, 16, ""),  # a logger that was not told the worker count
    ],
)
def test_more_data_workers_are_suggested_only_where_they_can_help(monkeypatch, wait, workers, cores, hint):
    line, _ = _timed_run(monkeypatch, wait, data_workers=workers, cores=cores)
    assert line.endswith(f"of that time waiting for data{hint}")
