"""ClipDataset + build_clip_split: a new clip source only says how to scan, name classes and read."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jepa_core.errors import DataError
from jepa_video.clips import ClipDataset, build_clip_split
from jepa_video.frames import VideoFramesConfig

CLASSES = ["a", "b"]
CLIPS = [(f"clip{i}", i % 2) for i in range(10)]


class MemoryClips(ClipDataset):
    """Clips whose frames are their index as a constant uint8 picture."""

    @staticmethod
    def scan(root, classes=None):
        assert root == "mem"
        return list(classes or CLASSES), list(CLIPS)

    @staticmethod
    def class_names(root):
        return list(CLASSES)

    def read(self, index):
        value = int(self.clips[index][0].removeprefix("clip"))
        return np.full((self.num_frames, 8, 8, 3), value, dtype=np.uint8)


def _cfg(**kw):
    return VideoFramesConfig(root="mem", resolution=8, num_frames=2, frame_step=1, **kw)


def test_held_out_split_and_transforms_come_from_the_shared_builder():
    train = build_clip_split(_cfg(val_fraction=0.2), "train", MemoryClips)
    val = build_clip_split(_cfg(val_fraction=0.2), "val", MemoryClips)
    assert isinstance(train, MemoryClips) and train.random_start and not val.random_start
    assert len(train) == 8 and len(val) == 2 and not set(train.clips) & set(val.clips)
    x, y = val[0]
    assert isinstance(x, torch.Tensor) and x.shape == (3, 2, 8, 8) and y in (0, 1)
    assert build_clip_split(_cfg(val_fraction=0.2), "train_eval", MemoryClips).clips == train.clips


def test_val_without_a_source_is_one_sentence():
    with pytest.raises(DataError, match="data.val_root or data.val_fraction"):
        build_clip_split(_cfg(), "val", MemoryClips)


def test_the_base_cannot_read():
    with pytest.raises(NotImplementedError):
        ClipDataset(None, clips=CLIPS).read(0)
