"""Output writes: a full disk, a read-only file system, a file or folder in the way are one
sentence (OutputError) naming the path and the reason; checks run before any work and create
nothing; atomic writes keep the previous file. Real tmpfs mounts where permitted."""

from __future__ import annotations

import errno
import os

import pytest
import torch

from jepa_core.errors import OutputError
from jepa_core.safe_write import check_output_dir, check_output_file, os_error_in, write_text, writing
from tests.jepa_core.mounts import fill, tmpfs


def test_a_file_in_the_way_of_an_output_dir(tmp_path):
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    with pytest.raises(
        OutputError, match=r"--out '.*taken' is a file, not a directory; choose a directory for --out\."
    ):
        check_output_dir(a_file, flag="--out")
    with pytest.raises(OutputError, match=r"--out '.*taken/run' cannot be created because '.*taken' is a file"):
        check_output_dir(a_file / "run", flag="--out")
    check_output_dir(tmp_path / "new" / "run", flag="--out")
    assert not (tmp_path / "new").exists()  # a check creates nothing


def test_output_file_that_is_a_directory_or_under_a_file(tmp_path):
    with pytest.raises(OutputError, match=r"--json '.*' is a directory; give a file name for --json\."):
        check_output_file(tmp_path, flag="--json")
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match=r"--json '.*f/r\.json' cannot be created because '.*f' is a file"):
        check_output_file(tmp_path / "f" / "r.json", flag="--json")
    check_output_file(tmp_path / "sub" / "r.json", flag="--json")
    assert not (tmp_path / "sub").exists()


def test_read_only_file_system_is_refused_before_any_work(tmp_path):
    with tmpfs(tmp_path / "ro", size="64k", readonly=True) as ro:
        with pytest.raises(
            OutputError, match=r"cannot be written \(the file system is read-only at '.*ro'\); choose a writable --out"
        ):
            check_output_dir(ro / "run", flag="--out")
        with pytest.raises(OutputError, match=r"the file system is read-only"):
            check_output_file(ro / "results.json", flag="--json")
        with pytest.raises(
            OutputError, match=r"could not write the results '.*results\.json' \(the file system is read-only\)"
        ):
            write_text(ro / "results.json", "{}", what="the results", flag="--json")


def test_full_disk_is_refused_before_any_work(tmp_path):
    with tmpfs(tmp_path / "disk", size="64k") as disk:
        fill(disk)
        with pytest.raises(
            OutputError, match=r"\(the disk is full at '.*disk'\); free some space or choose another --out"
        ):
            check_output_dir(disk / "run", flag="--out")


def test_atomic_write_on_a_full_disk_keeps_the_previous_file(tmp_path):
    with tmpfs(tmp_path / "disk", size="64k") as disk:
        write_text(disk / "probe.json", "old", what="the probe results")
        with pytest.raises(
            OutputError,
            match=r"could not write the probe results '.*probe\.json' \(the disk is full\); "
            r"free some space or choose another --out\.",
        ):
            write_text(disk / "probe.json", "x" * 200_000, what="the probe results", flag="--out")
        assert (disk / "probe.json").read_text() == "old"
        assert sorted(p.name for p in disk.iterdir()) == ["probe.json"]  # no temporary file left


@pytest.mark.parametrize("target", ["file object", "path"])
def test_torch_save_on_a_full_disk_is_one_sentence(tmp_path, target):
    # To a file object torch.save raises RuntimeError("unexpected pos ...") with the ENOSPC OSError as
    # its context; to a path, its C++ writer raises a bare RuntimeError ("iostream error").
    with tmpfs(tmp_path / "disk", size="64k") as disk:
        with pytest.raises(OutputError, match=r"could not write the export '.*m\.pth' \(the disk is full\)") as info:
            with writing(disk / "m.pth", what="the export"):
                if target == "path":
                    torch.save({"w": torch.zeros(100_000)}, disk / "m.pth")
                else:
                    with open(disk / "m.pth", "wb") as f:
                        torch.save({"w": torch.zeros(100_000)}, f)
        assert isinstance(info.value.__cause__, RuntimeError)


def test_os_error_in_follows_causes_but_not_suppressed_context():
    inner = OSError(errno.ENOSPC, "No space left on device")
    try:
        try:
            raise inner
        except OSError:
            raise RuntimeError("unexpected pos 704 vs 598")  # noqa: B904 (the implicit __context__ is under test)
    except RuntimeError as err:
        assert os_error_in(err) is inner
    try:
        try:
            raise inner
        except OSError:
            raise ValueError("unrelated") from None
    except ValueError as err:
        assert os_error_in(err) is None
    assert os_error_in(KeyError("x")) is None


def test_writing_leaves_other_errors_alone(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with writing(tmp_path / "x", what="x"):
            _ = 1 / 0


def test_atomic_text_files_get_the_usual_permissions(tmp_path):
    import os

    before = os.umask(0o022)
    try:
        write_text(tmp_path / "probe.json", "{}", what="the probe results")
    finally:
        os.umask(before)
    assert (tmp_path / "probe.json").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["probe.json"]


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_virtual_file_system_is_not_called_a_full_disk():
    """/proc reports no free blocks because it has no blocks at all: not 'the disk is full'."""
    with pytest.raises(
        OutputError, match=r"cannot be written \(a virtual file system with no storage at '/proc'\); choose a writable"
    ):
        check_output_dir("/proc/jepa_run", flag="--out")
