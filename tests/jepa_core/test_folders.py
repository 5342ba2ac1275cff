"""Folder helpers shared by the folder datasets of every modality."""

from __future__ import annotations

import attrs
import pytest

from jepa_core.errors import DataError
from jepa_core.folders import check_fraction, check_root, class_names, files_under, split_holdout


def test_files_under_is_recursive_sorted_and_skips_hidden(tmp_path):
    for rel in ("b/2.WAV", "b/1.wav", "a/x/3.wav", "a/.hidden.wav", ".cache/4.wav", "a/notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in map(type(tmp_path), files_under(str(tmp_path), (".wav",)))]
    assert found == ["a/x/3.wav", "b/1.wav", "b/2.WAV"]
    assert class_names(tmp_path) == ["a", "b"]


def test_check_root_names_the_dataset_and_the_layout(tmp_path):
    assert check_root(tmp_path, dataset="d", layout="a folder") == str(tmp_path)
    with pytest.raises(DataError, match="the d dataset needs a data path: pass --data PATH or set data.root."):
        check_root(None, dataset="d", layout="a folder")
    with pytest.raises(DataError, match=r"data path '.*missing' does not exist; pass a folder of clips\."):
        check_root(tmp_path / "missing", dataset="d", layout="a folder of clips")
    (tmp_path / "f").write_text("")
    with pytest.raises(DataError, match="is not a directory"):
        check_root(tmp_path / "f", dataset="d", layout="a folder")


def test_split_holdout_is_fixed_disjoint_and_complete():
    train, val = split_holdout(20, 0.25)
    assert (train, val) == split_holdout(20, 0.25) and len(val) == 5
    assert sorted(train + val) == list(range(20)) and train == sorted(train)
    assert split_holdout(20, 0.25, seed=1) != (train, val)
    assert len(split_holdout(3, 0.01)[1]) == 1 and len(split_holdout(3, 0.99)[0]) == 1  # one on each side
    with pytest.raises(DataError, match=r"from only 1 clip\."):
        split_holdout(1, 0.5, what="clip")


def test_fraction_validator():
    @attrs.frozen
    class Cfg:
        val_fraction: float = attrs.field(default=0.0, validator=check_fraction)

    assert Cfg(0.5).val_fraction == 0.5
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\), got 1.0"):
        Cfg(1.0)


def _touch(folder, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def test_a_symlink_loop_is_followed_once_and_reported(tmp_path):
    from jepa_core.folders import scan_class_folders

    _touch(tmp_path / "a", [f"{i:02d}.png" for i in range(10)])
    _touch(tmp_path / "b", [f"{i:02d}.png" for i in range(10)])
    (tmp_path / "b" / "loop").symlink_to(".")  # ln -s . b/loop
    with pytest.warns(
        UserWarning,
        match=r"1 linked folder leads to a folder already scanned and is skipped "
        r"\(e\.g\. '.*b/loop' is '.*b'\)",
    ):
        classes, samples = scan_class_folders(tmp_path, (".png",), dataset="image_folder", noun="images")
    assert classes == ["a", "b"] and len(samples) == 20
    assert sum(label == 1 for _, label in samples) == 10


def test_files_and_folders_reached_twice_are_used_once_and_reported(tmp_path):
    from jepa_core.folders import scan_class_folders

    _touch(tmp_path / "data" / "a", ["1.png", "2.png"])
    _touch(tmp_path / "data" / "b", ["3.png"])
    (tmp_path / "data" / "b" / "again.png").symlink_to(tmp_path / "data" / "a" / "1.png")
    (tmp_path / "data" / "b" / "sub").symlink_to(tmp_path / "data" / "a")
    (tmp_path / "outside").mkdir()
    _touch(tmp_path / "outside", ["9.png"])
    (tmp_path / "data" / "b" / "extra").symlink_to(tmp_path / "outside")  # a link out of the root: followed
    with pytest.warns(UserWarning) as record:
        _, samples = scan_class_folders(tmp_path / "data", (".png",), dataset="image_folder", noun="images")
    names = sorted((p.split("data/")[1], label) for p, label in samples)
    assert names == [("a/1.png", 0), ("a/2.png", 0), ("b/3.png", 1), ("b/extra/9.png", 1)]
    (message,) = [str(w.message) for w in record]
    assert "1 linked folder leads to a folder already scanned" in message and "b/sub' is '" in message
    assert "1 file reached by a second path is used once (e.g. '" in message and "b/again.png' is '" in message


def test_no_warning_without_links(tmp_path, recwarn):
    _touch(tmp_path / "x", ["1.png"])
    assert len(files_under(str(tmp_path), (".png",))) == 1
    assert not recwarn.list


def test_linked_clip_folders_are_used_once(tmp_path):
    from jepa_video.frames import scan_clips

    _touch(tmp_path / "walk" / "clip1", ["f1.png"])
    _touch(tmp_path / "run" / "clip2", ["f1.png"])
    (tmp_path / "run" / "clip1").symlink_to(tmp_path / "walk" / "clip1")
    with pytest.warns(
        UserWarning,
        match=(
            r"1 of the clip folders is reached by a second path and used once "
            r"\(e\.g\. '.*walk/clip1' is '.*run/clip1'\)"
        ),
    ):
        classes, clips = scan_clips(tmp_path)
    assert classes == ["run", "walk"] and len(clips) == 2
