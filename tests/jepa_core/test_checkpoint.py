"""Atomic checkpoints: a failed or killed write keeps the previous checkpoint loadable, temp
files are ignored and cleaned up, retention keeps the newest K plus periodic ones, and a full
disk is one clear CheckpointError."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch

from jepa_core import checkpoint as ckpt
from jepa_core.cli import main
from jepa_core.errors import CheckpointError

TOY = ["--no-autoload", "-p", "tests.toy_seq_plugin", "train", "--plugin", "toyseq", "--preset", "tiny"]


def _state(step: int) -> dict:
    return {"step": step, "weights": torch.full((4,), float(step))}


def _partial_then(error: BaseException):
    """A torch.save stand-in that writes some bytes, then fails like a dying disk."""

    def save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial checkpoint bytes")
        raise error

    return save


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_save_load_roundtrip_and_name(tmp_path):
    path = ckpt.save_checkpoint(_state(3), tmp_path, step=3)
    assert path == tmp_path / "step_00000003.pt"
    state = ckpt.load_checkpoint(path)
    assert state["step"] == 3 and torch.equal(state["weights"], torch.full((4,), 3.0))
    assert state["format"] == ckpt.FORMAT
    assert _names(tmp_path) == ["step_00000003.pt"]  # no temporary file left behind


def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    ckpt.save_checkpoint(_state(3), tmp_path, step=3)
    monkeypatch.setattr(ckpt.torch, "save", _partial_then(RuntimeError("writer crashed")))
    with pytest.raises(RuntimeError, match="writer crashed"):
        ckpt.save_checkpoint(_state(6), tmp_path, step=6)
    assert _names(tmp_path) == ["step_00000003.pt"]
    assert ckpt.latest_checkpoint(tmp_path) == tmp_path / "step_00000003.pt"
    assert ckpt.load_checkpoint(tmp_path / "step_00000003.pt")["step"] == 3


def test_disk_full_is_a_checkpoint_error_and_keeps_previous(tmp_path, monkeypatch):
    ckpt.save_checkpoint(_state(3), tmp_path, step=3)
    monkeypatch.setattr(ckpt.torch, "save", _partial_then(OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(
        CheckpointError, match=r"step_00000006\.pt \(the disk is full\); the previous checkpoints are kept"
    ):
        ckpt.save_checkpoint(_state(6), tmp_path, step=6)
    assert _names(tmp_path) == ["step_00000003.pt"]
    assert ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path))["step"] == 3


def test_kill_mid_write_leaves_only_an_ignored_temp_file(tmp_path):
    ckpt.save_checkpoint(_state(3), tmp_path, step=3)
    # What a SIGKILL during torch.save leaves: a partial temp file under a name that never matches.
    torn = tmp_path / ".tmp-abc123.pt"
    torn.write_bytes(b"PK\x03\x04 torn")
    (tmp_path / "step_00000009.pt.partial").write_bytes(b"junk")  # not a checkpoint name either
    assert ckpt.list_checkpoints(tmp_path) == [(3, tmp_path / "step_00000003.pt")]
    assert ckpt.latest_checkpoint(tmp_path) == tmp_path / "step_00000003.pt"
    assert ckpt.remove_temp_files(tmp_path) == [torn]
    assert not torn.exists() and (tmp_path / "step_00000003.pt").exists()


def test_prune_keeps_newest_and_periodic(tmp_path):
    for step in range(2, 21, 2):
        ckpt.save_checkpoint(_state(step), tmp_path, step=step)
    removed = ckpt.prune_checkpoints(tmp_path, keep_last=2, keep_every=6)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [6, 12, 18, 20]
    assert sorted(p.name for p in removed) == [f"step_{s:08d}.pt" for s in (2, 4, 8, 10, 14, 16)]
    ckpt.prune_checkpoints(tmp_path, keep_last=1)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [20]


def test_training_run_keeps_last_k_plus_keep_every(tmp_path, capsys):
    rc = main(
        [
            *TOY,
            "--out",
            str(tmp_path),
            "--set",
            "train.epochs=2",
            "--set",
            "train.checkpoint_every=2",
            "--set",
            "train.keep_checkpoints=2",
            "--set",
            "train.keep_every=4",
            "--set",
            "train.device=cpu",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [4, 8, 12, 14, 16]


def test_disk_full_during_training_stops_with_exit_2_and_keeps_last_checkpoint(tmp_path, monkeypatch, capsys):
    real_save = ckpt.torch.save
    calls = {"n": 0}

    def flaky_save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # the third checkpoint (after step 9) hits a full disk
            return _partial_then(OSError(errno.ENOSPC, "No space left on device"))(obj, f)
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(ckpt.torch, "save", flaky_save)
    rc = main(
        [
            *TOY,
            "--out",
            str(tmp_path),
            "--set",
            "train.epochs=2",
            "--set",
            "train.checkpoint_every=3",
            "--set",
            "train.device=cpu",
            "--set",
            "train.keep_checkpoints=5",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: could not write checkpoint") and "the disk is full" in err
    assert "Traceback" not in err
    # saves: step 3, step 6, then the epoch end at step 8 fails -> 3 and 6 remain, no temp file
    assert _names(tmp_path / "checkpoints") == ["step_00000003.pt", "step_00000006.pt"]
    assert ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "checkpoints"))["step"] == 6


def test_stale_temp_file_is_removed_when_a_run_starts(tmp_path, capsys):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / ".tmp-killed.pt").write_bytes(b"torn")
    rc = main([*TOY, "--out", str(tmp_path), "--set", "train.max_steps=2", "--set", "train.device=cpu"])
    assert rc == 0, capsys.readouterr().err
    assert _names(folder) == ["step_00000002.pt"]


def test_real_full_disk_is_a_checkpoint_error_and_keeps_the_previous_one(tmp_path):
    # torch.save on a full file system raises RuntimeError("unexpected pos ...") with ENOSPC under it.
    from tests.jepa_core.mounts import tmpfs

    with tmpfs(tmp_path / "disk", size="160k") as disk:
        ckpt.save_checkpoint({"step": 3, "w": torch.zeros(25_000)}, disk, step=3)  # ~100 KB
        with pytest.raises(
            CheckpointError,
            match=r"could not write checkpoint .*step_00000006\.pt \(the disk is full\); "
            r"the previous checkpoints are kept \(free some space or choose another "
            r"train\.out_dir\)\.",
        ):
            ckpt.save_checkpoint({"step": 6, "w": torch.zeros(25_000)}, disk, step=6)
        assert _names(disk) == ["step_00000003.pt"]
        assert ckpt.load_checkpoint(disk / "step_00000003.pt")["step"] == 3


def test_read_only_checkpoint_folder_is_a_checkpoint_error(tmp_path):
    from tests.jepa_core.mounts import tmpfs

    with tmpfs(tmp_path / "ro", size="64k", readonly=True) as ro:
        with pytest.raises(CheckpointError, match=r"step_00000001\.pt \(the file system is read-only\); the previous"):
            ckpt.save_checkpoint(_state(1), ro / "checkpoints", step=1)


def test_disk_filling_up_during_training_exits_2_and_keeps_the_last_checkpoint(tmp_path, capsys):
    from tests.jepa_core.mounts import tmpfs

    with tmpfs(tmp_path / "run" / "checkpoints", size="600k") as folder:  # one toy checkpoint (~400 KB) fits
        rc = main(
            [
                *TOY,
                "--out",
                str(tmp_path / "run"),
                "--set",
                "train.max_steps=3",
                "--set",
                "train.checkpoint_every=1",
                "--set",
                "train.device=cpu",
                "--set",
                "train.keep_checkpoints=5",
                "--set",
                "train.log_every=1",
            ]
        )
        err = capsys.readouterr().err
        assert rc == 2
        assert (
            err.startswith(
                f"error: could not write checkpoint {folder / 'step_00000002.pt'} (the disk is full); "
                "the previous checkpoints are kept"
            )
            and err.count("\n") == 1
        )
        assert _names(folder) == ["step_00000001.pt"]
        assert ckpt.load_checkpoint(folder / "step_00000001.pt")["step"] == 1
