"""Exact resume: a run stopped (or SIGKILLed) mid-epoch and resumed from its newest checkpoint
gives bit-identical per-step losses to an uninterrupted run (CPU, fixed seed).

This module is also a test-only plugin (``-p tests.jepa_core.test_resume``): its loss
``noisy_smooth_l1`` scales the loss by a draw from the global torch RNG, so a resumed run only
matches when the RNG state is restored and nothing else (e.g. a DataLoader iterator) draws
from it; with ``JEPA_TEST_SIGNAL=K:SIGNAME`` in the environment it sends that signal to its
own process during step ``K`` (0-based), a deterministic stand-in for a kill or a preemption.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
import torch

from jepa_core import hookimpl
from jepa_core.checkpoint import latest_checkpoint, load_checkpoint
from jepa_core.config import ComponentConfig
from jepa_core.data import build_loader
from jepa_core.errors import CheckpointError, ConfigError
from jepa_core.losses import SmoothL1Config, SmoothL1Loss
from jepa_core.progress import LossLog, read_loss_log
from jepa_core.registry import build_registry
from jepa_core.run import build_dataset, build_parts, train_run
from jepa_core.specs import LossSpec
from tests import toy_seq_plugin

JEPA_PLUGIN_NAME = "resume_tests"
SIGNAL_ENV = "JEPA_TEST_SIGNAL"
REPO = Path(__file__).resolve().parents[2]


class NoisySmoothL1:
    """Smooth-L1 times ``1 + 0.1 * u`` with ``u`` from the global RNG; may signal its process."""

    def __init__(self, cfg: SmoothL1Config) -> None:
        self.base = SmoothL1Loss(cfg.beta)
        self.calls = 0
        spec = os.environ.get(SIGNAL_ENV)
        self.signal_at, self.signum = (
            (int(spec.split(":")[0]), getattr(signal, spec.split(":")[1])) if spec else (-1, 0)
        )

    def __call__(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.calls == self.signal_at:
            os.kill(os.getpid(), self.signum)
        self.calls += 1
        return self.base(predictions, targets) * (1 + 0.1 * torch.rand(()))


@hookimpl
def jepa_losses():
    yield LossSpec(name="noisy_smooth_l1", config_type=SmoothL1Config, build=NoisySmoothL1)


# ------------------------------------------------------------------------ helpers

# toy preset: 256 samples / batch 32 = 8 steps per epoch; 2 epochs = 16 steps.
TOY_SETS = [
    "loss.name=noisy_smooth_l1",
    "train.epochs=2",
    "train.checkpoint_every=3",
    "train.log_every=2",
    "train.loss_log=true",
    "train.device=cpu",
    "train.keep_checkpoints=20",
]


def toy_command(out: Path, *extra: str) -> list[str]:
    """The CLI command line of the toy run used by the subprocess tests."""
    sets = [arg for item in [*TOY_SETS, *extra] for arg in ("--set", item)]
    return [
        sys.executable,
        "-m",
        "jepa_core",
        "--no-autoload",
        "-p",
        "tests.toy_seq_plugin",
        "-p",
        __name__,
        "train",
        "--plugin",
        "toyseq",
        "--preset",
        "tiny",
        "--out",
        str(out),
        *sets,
    ]


def run_cli(
    out: Path, *extra: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != SIGNAL_ENV}
    full_env.update(env or {})
    return subprocess.run(
        toy_command(out, *extra), cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def registry():
    return build_registry(autoload=False, plugins=[toy_seq_plugin, sys.modules[__name__]])


def toy_cfg(out: Path, **train):
    cfg = toy_seq_plugin.toy_config()
    options = dict(
        epochs=2, checkpoint_every=3, log_every=2, loss_log=True, device="cpu", out_dir=str(out), keep_checkpoints=20
    )
    options.update(train)
    return attrs.evolve(
        cfg, loss=ComponentConfig("noisy_smooth_l1", SmoothL1Config()), train=attrs.evolve(cfg.train, **options)
    )


@attrs.frozen
class Reference:
    losses: dict[int, float]
    threads: int  # torch intra-op threads it ran with (subprocesses use the same)


@pytest.fixture(scope="module")
def reference() -> Reference:
    """Per-step losses of an uninterrupted 16-step toy run (in-process)."""
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        result = train_run(toy_cfg(Path(out)), registry(), stream=None)
        assert result.steps == 16
        return Reference(read_loss_log(Path(out) / LossLog.FILE_NAME), torch.get_num_threads())


@pytest.fixture
def reference_losses(reference) -> dict[int, float]:
    return reference.losses


# -------------------------------------------------------------------------- tests


@pytest.mark.parametrize("stop_at, epoch, in_epoch", [(5, 0, 5), (8, 0, 8)], ids=["mid-epoch", "epoch-end"])
def test_stopped_and_resumed_run_has_bit_identical_losses(tmp_path, reference_losses, stop_at, epoch, in_epoch):
    assert sorted(reference_losses) == list(range(1, 17))
    first = train_run(toy_cfg(tmp_path, max_steps=stop_at), registry(), stream=None)
    assert first.steps == stop_at
    state = load_checkpoint(latest_checkpoint(tmp_path / "checkpoints"))
    assert (state["step"], state["epoch"], state["step_in_epoch"]) == (stop_at, epoch, in_epoch)

    stream = io.StringIO()
    second = train_run(toy_cfg(tmp_path), registry(), stream=stream)
    assert f"resuming from {tmp_path / 'checkpoints' / f'step_{stop_at:08d}.pt'}" in stream.getvalue()
    assert second.steps == 16
    resumed = read_loss_log(tmp_path / LossLog.FILE_NAME)
    assert sorted(resumed) == list(range(1, 17))
    assert resumed == reference_losses  # exact float equality, every step


def test_an_unreadable_newest_checkpoint_stops_the_resume_naming_what_to_do(tmp_path, reference_losses):
    """The newest checkpoint corrupt: one sentence naming it and the checkpoint before it (nothing
    is removed); moved away as it says, the run resumes from that one and matches the reference."""
    train_run(toy_cfg(tmp_path, max_steps=6), registry(), stream=None)
    folder = tmp_path / "checkpoints"
    (folder / "step_00000006.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError) as info:
        train_run(toy_cfg(tmp_path), registry(), stream=None)
    assert str(info.value) == (
        f"cannot resume: '{folder / 'step_00000006.pt'}' is not a checkpoint: it is neither a PyTorch zip "
        f"archive nor a legacy torch.save file; move step_00000006.pt out of {folder} to resume from "
        "step_00000003.pt."
    )
    assert (folder / "step_00000006.pt").exists() and (folder / "step_00000003.pt").exists()
    (folder / "step_00000006.pt").rename(tmp_path / "bad.pt")
    assert train_run(toy_cfg(tmp_path), registry(), stream=None).steps == 16
    assert read_loss_log(tmp_path / LossLog.FILE_NAME) == reference_losses

    only = tmp_path / "only"
    train_run(toy_cfg(only, max_steps=3), registry(), stream=None)
    (only / "checkpoints" / "step_00000003.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="to start the run afresh"):
        train_run(toy_cfg(only), registry(), stream=None)


def test_a_resume_on_data_of_another_size_stops_naming_both_sizes(tmp_path, monkeypatch):
    """Images added to or removed from the data folder between a stop and its resume: the
    checkpoint's place in the epoch and its schedules no longer fit, so the resume stops (one
    sentence, nothing written) unless --allow-config-change, which goes on with the new data."""
    train_run(toy_cfg(tmp_path, max_steps=5), registry(), stream=None)
    folder = tmp_path / "checkpoints"
    assert load_checkpoint(latest_checkpoint(folder))["data_layout"] == {"samples": 256, "steps_per_epoch": 8}
    written = {p.name: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    monkeypatch.setattr(toy_seq_plugin.SineDataset, "__len__", lambda self: 160)  # the same config, less data
    with pytest.raises(ConfigError) as info:
        train_run(toy_cfg(tmp_path), registry(), stream=None)
    assert str(info.value) == (
        "cannot resume: step_00000005.pt was written on 256 training samples (8 steps per epoch) and the data "
        "now gives 160 training samples (5 steps per epoch), so its place in the epoch and its schedules would "
        "not match; restore the data, train into another --out, or pass --allow-config-change to go on with "
        "this data."
    )
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()} == written

    stream = io.StringIO()
    result = train_run(toy_cfg(tmp_path), registry(), stream=stream, allow_config_change=True)
    assert "resuming on 160 training samples (5 steps per epoch) instead of the checkpoint's 256" in stream.getvalue()
    assert result.steps == 10  # the rest of epoch 0 is over; epoch 1 has 5 steps
    assert load_checkpoint(latest_checkpoint(folder))["data_layout"] == {"samples": 160, "steps_per_epoch": 5}


def test_a_finished_run_rerun_says_there_is_nothing_left_to_train(tmp_path):
    train_run(toy_cfg(tmp_path, max_steps=4), registry(), stream=None)
    stream = io.StringIO()
    assert train_run(toy_cfg(tmp_path, max_steps=2), registry(), stream=stream).steps == 4
    assert "the run is at step 4, at or past its last step 2: nothing left to train" in stream.getvalue()


def test_muon_run_resumes_bit_identically(tmp_path):
    """Muon's momentum buffers and AdamW's moments travel in the checkpoint like AdamW's alone."""

    def muon_cfg(out: Path, **train):
        cfg = toy_cfg(out, **train)
        return attrs.evolve(cfg, optim=attrs.evolve(cfg.optim, optimizer="muon"))

    whole = train_run(muon_cfg(tmp_path / "whole"), registry(), stream=None)
    assert whole.steps == 16
    reference_losses = read_loss_log(tmp_path / "whole" / LossLog.FILE_NAME)
    train_run(muon_cfg(tmp_path / "split", max_steps=5), registry(), stream=None)
    state = load_checkpoint(latest_checkpoint(tmp_path / "split" / "checkpoints"))
    assert any("momentum_buffer" in s for s in state["opt"]["state"].values())
    train_run(muon_cfg(tmp_path / "split"), registry(), stream=None)
    assert read_loss_log(tmp_path / "split" / LossLog.FILE_NAME) == reference_losses


def test_resume_without_restoring_the_rng_would_differ(tmp_path, reference_losses, monkeypatch):
    """Control: the noisy loss makes the comparison sensitive to the RNG state."""
    train_run(toy_cfg(tmp_path, max_steps=5), registry(), stream=None)
    import jepa_core.trainer as trainer_mod

    monkeypatch.setattr(trainer_mod, "set_rng_state", lambda state: None)
    train_run(toy_cfg(tmp_path), registry(), stream=None)
    resumed = read_loss_log(tmp_path / LossLog.FILE_NAME)
    assert [resumed[s] for s in range(1, 6)] == [reference_losses[s] for s in range(1, 6)]
    assert resumed[6] != reference_losses[6]


def test_sigkill_mid_epoch_then_rerun_matches_uninterrupted_run(tmp_path, reference):
    run_dir = tmp_path / "run"
    threads = {"OMP_NUM_THREADS": str(reference.threads)}
    # SIGKILL during step 11 (0-based): steps 1..11 done, newest checkpoint after step 9 (epoch 1,
    # step-in-epoch 1), the loss log already flushed up to step 10.
    killed = run_cli(run_dir, env={SIGNAL_ENV: "11:SIGKILL", **threads})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert latest_checkpoint(run_dir / "checkpoints").name == "step_00000009.pt"
    assert max(read_loss_log(run_dir / LossLog.FILE_NAME)) == 10  # one step past the checkpoint

    resumed = run_cli(run_dir, env=threads)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stdout and "(step 9, epoch 1, step-in-epoch 1)" in resumed.stdout
    losses = read_loss_log(run_dir / LossLog.FILE_NAME)
    assert sorted(losses) == list(range(1, 17))
    assert losses == reference.losses  # bit-identical to the uninterrupted run
    assert (run_dir / "losses.tsv").read_text().count("\n") == 16  # one line per step: stale line dropped


def test_loader_iteration_does_not_advance_the_global_rng(toy_registry):
    cfg = toy_seq_plugin.toy_config()
    parts = build_parts(cfg, toy_registry)
    loader = build_loader(
        build_dataset(cfg, toy_registry, "train"), parts.masker, grid=parts.encoder.token_grid, micro_batch=32, seed=0
    )
    before = torch.get_rng_state()
    next(iter(loader))
    assert torch.equal(before, torch.get_rng_state())


def test_loss_log_drops_lines_after_the_resume_step_and_a_torn_line(tmp_path):
    path = tmp_path / "losses.tsv"
    path.write_text("1\t0.5\n2\t0.25\n3\t0.125\n4\t0.0")  # "4" was torn by a kill mid-write
    assert read_loss_log(path) == {1: 0.5, 2: 0.25, 3: 0.125}
    LossLog(path, log_every=2, start_step=2)
    assert path.read_text() == "1\t0.5\n2\t0.25\n"


def test_loss_log_writes_only_at_its_cadence(tmp_path):
    class Out:
        def __init__(self, step: int) -> None:
            self.step, self.loss = step, torch.tensor(0.1 * (step + 1), dtype=torch.float32)

    class T:
        step = 0

    log = LossLog(tmp_path / "losses.tsv", log_every=3)
    trainer = T()
    for s in range(4):
        trainer.step = s + 1
        log.on_step_end(trainer, Out(s))
        assert len(read_loss_log(log.path)) == (3 if s + 1 >= 3 else 0)
    log.flush()
    assert read_loss_log(log.path) == {s + 1: float(torch.tensor(0.1 * (s + 1), dtype=torch.float32)) for s in range(4)}
