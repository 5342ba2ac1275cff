"""Dataset specs of the video plugin: ``video_frames``, ``video_files`` and ``synthetic_motion``.

All give ``(clip, label)`` pairs, a clip being a float tensor ``[3, T, H, W]``
(ImageNet-normalised).

Example::

    specs = {s.name: s for s in dataset_specs()}
    ds = specs["synthetic_motion"].build(SyntheticMotionConfig(num_frames=8), "val")
"""

from __future__ import annotations

from jepa_core.specs import DatasetSpec
from jepa_video.files import VideoFilesConfig, build_video_files
from jepa_video.frames import VideoFramesConfig, build_video_frames
from jepa_video.synthetic import SyntheticMotionConfig, build_synthetic_motion


def dataset_specs() -> list[DatasetSpec]:
    """The video datasets this plugin registers."""
    return [
        DatasetSpec(
            sample_noun="clips",
            name="video_frames",
            config_type=VideoFramesConfig,
            build=build_video_frames,
            description="clips as folders of frame images: root/<class>/<clip>/<frames> or "
            "root/<clip>/<frames> (labels -1)",
            example=None,  # needs frame files: tests/plugins/jepa_video/test_video_data.py checks it on a tmp folder
        ),
        DatasetSpec(
            sample_noun="clips",
            name="video_files",
            config_type=VideoFilesConfig,
            build=build_video_files,
            description="video files (mp4, avi, mkv, webm, mov) decoded with PyAV: root/<class>/**/<video> or "
            "root/<videos> (labels -1); needs pip install av",
            example=None,  # needs video files and PyAV: tests/plugins/jepa_video/test_video_files.py checks it
        ),
        DatasetSpec(
            sample_noun="clips",
            name="synthetic_motion",
            config_type=SyntheticMotionConfig,
            build=build_synthetic_motion,
            description="a shape moving over a textured background, class = motion direction (no files needed)",
            example=lambda: SyntheticMotionConfig(num_train=4, num_val=4, num_frames=4, resolution=16),
        ),
    ]
