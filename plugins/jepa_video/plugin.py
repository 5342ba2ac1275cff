"""The video plugin's hook implementations (entry point ``video`` in ``jepa.plugins``): V-JEPA.

It registers exactly as a third-party package would. It builds on :mod:`jepa_vit`'s
transformer blocks and predictor (V-JEPA's networks are I-JEPA's with a 3-D tubelet stem,
3-D positions and one mask token per mask set).
"""

from __future__ import annotations

from jepa_core.hookspecs import hookimpl
from jepa_core.specs import EncoderSpec, Example, FolderDatasetSpec, PredictorSpec

from .datasets import dataset_specs
from .masks import masker_specs
from .predictor import VideoPredictorConfig, build_video_predictor
from .presets import preset_specs
from .video_vit import VideoViTConfig, build_video_vit

JEPA_PLUGIN_NAME = "video"


@hookimpl
def jepa_encoders():
    yield EncoderSpec(
        name="video_vit",
        config_type=VideoViTConfig,
        build=build_video_vit,
        description="video ViT: 2x16x16 tubelets (Conv3d), fixed 3-D sin-cos positions, no class token",
        # conformance tests: one block on a 2 x 2 x 2 tubelet grid
        example=lambda: VideoViTConfig(size="tiny", img_size=32, patch_size=16, num_frames=4, depth=1),
    )


@hookimpl
def jepa_predictors():
    yield PredictorSpec(
        name="video_predictor",
        config_type=VideoPredictorConfig,
        build=build_video_predictor,
        description="V-JEPA predictor: 3-D sin-cos positions, one zero-initialised mask token per mask set",
        example=lambda: Example(options=VideoPredictorConfig(embed_dim=48, depth=1), encoder="video_vit"),
    )


@hookimpl
def jepa_datasets():
    return dataset_specs()


@hookimpl
def jepa_maskers():
    return masker_specs()


@hookimpl
def jepa_presets():
    return preset_specs()


@hookimpl
def jepa_folder_dataset():
    return FolderDatasetSpec(dataset="video_frames")
