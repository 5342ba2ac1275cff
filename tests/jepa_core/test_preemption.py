"""Preemption: SIGTERM/SIGUSR1 finish the current step, write a checkpoint at that step and exit
with code 75 (``EXIT_PREEMPTED``); re-running the same command resumes and finishes, with the
same per-step losses as an uninterrupted run. A first Ctrl-C does the same with exit code 130
(``EXIT_INTERRUPTED``); a second one stops at once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest

from jepa_core.callbacks import PreemptionHandler
from jepa_core.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from jepa_core.progress import LossLog, read_loss_log
from jepa_core.run import EXIT_INTERRUPTED, EXIT_PREEMPTED
from tests.jepa_core.test_resume import REPO, SIGNAL_ENV, reference, run_cli, toy_command  # noqa: F401 (fixture)


def test_exit_code_is_75():
    assert EXIT_PREEMPTED == 75


def test_sigterm_during_a_step_checkpoints_that_step_exits_75_and_rerun_resumes(tmp_path, reference):  # noqa: F811 (the fixture imported above)
    threads = {"OMP_NUM_THREADS": str(reference.threads)}
    # SIGTERM arrives inside step 6 (0-based call 5): the step is finished, then the run stops.
    first = run_cli(tmp_path, env={SIGNAL_ENV: "5:SIGTERM", **threads})
    assert first.returncode == EXIT_PREEMPTED, first.stderr
    assert f"stopped by signal {int(signal.SIGTERM)} at step 6; checkpoint written, re-run to resume" in first.stdout
    newest = latest_checkpoint(tmp_path / "checkpoints")
    assert newest.name == "step_00000006.pt"
    state = load_checkpoint(newest)
    assert (state["step"], state["epoch"], state["step_in_epoch"]) == (6, 0, 6)
    assert not (tmp_path / "probe.json").exists()

    second = run_cli(tmp_path, env=threads)
    assert second.returncode == 0, second.stderr
    assert f"resuming from {newest} (step 6, epoch 0, step-in-epoch 6)" in second.stdout
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")][-1] == 16
    assert read_loss_log(tmp_path / LossLog.FILE_NAME) == reference.losses  # bit-identical


def test_sigusr1_from_outside_after_training_started(tmp_path):
    # A long run (50 epochs = 400 steps); the signal comes from another process once a step was logged.
    cmd = toy_command(tmp_path, "train.epochs=50", "train.log_every=1")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("step "):
                proc.send_signal(signal.SIGUSR1)
                break
        rest, err = proc.communicate(timeout=240)
    finally:
        proc.kill()
    out = "".join(lines) + rest
    assert proc.returncode == EXIT_PREEMPTED, err
    stopped = re.search(rf"stopped by signal {int(signal.SIGUSR1)} at step (\d+); checkpoint written", out)
    assert stopped, out
    step = int(stopped.group(1))
    assert 1 <= step < 400
    assert latest_checkpoint(tmp_path / "checkpoints").name == f"step_{step:08d}.pt"
    assert load_checkpoint(latest_checkpoint(tmp_path / "checkpoints"))["step"] == step
    assert "Traceback" not in err


def _python_sigint_handler() -> None:
    """In the child: SIGINT at its default, so Python installs its own handler (a shell's
    background job would otherwise start with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_a_step_checkpoints_that_step_exits_130_and_rerun_resumes(tmp_path, reference):  # noqa: F811 (the fixture imported above)
    env = {k: v for k, v in os.environ.items() if k != SIGNAL_ENV}
    env.update({SIGNAL_ENV: "5:SIGINT", "OMP_NUM_THREADS": str(reference.threads)})
    first = subprocess.run(
        toy_command(tmp_path),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        preexec_fn=_python_sigint_handler,
    )
    assert first.returncode == EXIT_INTERRUPTED, first.stderr
    assert "stopped by Ctrl-C (signal 2) at step 6; checkpoint written, re-run to resume" in first.stdout
    assert latest_checkpoint(tmp_path / "checkpoints").name == "step_00000006.pt"
    assert "Traceback" not in first.stderr and "interrupted" not in first.stderr

    second = run_cli(tmp_path, env={"OMP_NUM_THREADS": str(reference.threads)})
    assert second.returncode == 0, second.stderr
    assert read_loss_log(tmp_path / LossLog.FILE_NAME) == reference.losses  # bit-identical


class _Trainer:
    stop_requested = False


def test_a_second_ctrl_c_stops_at_once_and_the_handlers_are_restored():
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        trainer = _Trainer()
        with PreemptionHandler(trainer) as preemption:  # type: ignore[arg-type]
            signal.raise_signal(signal.SIGINT)
            assert trainer.stop_requested and preemption.received == signal.SIGINT
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # ignored (a background job): left alone
        with PreemptionHandler(_Trainer()):  # type: ignore[arg-type]
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def _read_until_the_first_step(read_end: int, proc: subprocess.Popen) -> bytes:
    """What the run wrote to its console up to its first step line (or its exit)."""
    import select

    seen = b""
    while b"\nstep " not in seen and proc.poll() is None:
        if select.select([read_end], [], [], 60)[0]:
            seen += os.read(read_end, 4096)
    return seen


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX")
@pytest.mark.parametrize("console", ["terminal", "pipe"])
def test_a_closed_terminal_checkpoints_the_step_and_exits_129(tmp_path, console):
    """The run's console goes away (a pseudo-terminal whose master side is closed, or a pipe whose
    reader is gone, as `| tee log` in a closed terminal: writes to either fail) and SIGHUP reaches
    the run's process group, its data worker included: the step is finished, a checkpoint written,
    the exit code 129. Before, SIGHUP killed the run and lost every step since the last checkpoint."""
    import pty

    from jepa_core.run import EXIT_HANGUP

    cmd = toy_command(
        tmp_path, "train.epochs=50", "train.log_every=1", "train.checkpoint_every=10000", "train.num_workers=1"
    )
    try:
        read_end, write_end = pty.openpty() if console == "terminal" else os.pipe()
    except OSError as err:  # a container without pseudo-terminals
        pytest.skip(f"no pseudo-terminal here: {err}")
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=write_end,
        stderr=write_end,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),  # as in a terminal, even under nohup
    )
    os.close(write_end)
    try:
        seen = _read_until_the_first_step(read_end, proc)
        os.close(read_end)  # the console is gone: the run's writes to it now fail
        time.sleep(1.0)  # steps logged (and their writes failing) before the signal arrives
        assert proc.poll() is None, "a failed console write stopped the run"
        os.killpg(proc.pid, signal.SIGHUP)
        assert proc.wait(timeout=240) == EXIT_HANGUP, seen.decode(errors="replace")
    finally:
        proc.kill()
    newest = latest_checkpoint(tmp_path / "checkpoints")
    assert newest is not None  # written by the stop, not by checkpoint_every
    step = load_checkpoint(newest)["step"]
    assert 1 <= step < 400
    resumed = run_cli(tmp_path, "train.epochs=50", f"train.max_steps={step + 1}", "train.checkpoint_every=10000")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming from {newest} (step {step}," in resumed.stdout


def test_a_console_pipe_whose_reader_exits_does_not_stop_the_run(tmp_path):
    """``jepa train ... | head -3``: once the reader is gone every write to the pipe fails (EPIPE)
    and no signal comes; the run drops its console lines and trains to the end."""
    cmd = toy_command(tmp_path, "train.epochs=5", "train.log_every=1")
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=write_end, stderr=write_end)
    os.close(write_end)
    try:
        seen = _read_until_the_first_step(read_end, proc)
        os.close(read_end)
        assert proc.wait(timeout=240) == 0, seen.decode(errors="replace")
    finally:
        proc.kill()
    newest = latest_checkpoint(tmp_path / "checkpoints")
    assert newest is not None and load_checkpoint(newest)["step"] == 40  # 5 epochs of 8 steps


def test_sighup_is_left_alone_where_it_is_ignored():
    """Under nohup (SIGHUP ignored) a closed terminal does not stop the run."""

    class Stub:
        stop_requested = False

    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with PreemptionHandler(Stub()):
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)
