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
