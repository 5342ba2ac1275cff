"""The audio plugin's hook implementations (entry point ``audio`` in ``jepa.plugins``): spectrogram JEPA.

It registers exactly as a third-party package would. Inputs are log-mel spectrograms
``[1, T, F]`` (time as the height); the encoder is :mod:`jepa_vit`'s 2-D ViT on that rectangle
and the presets use the ``vit_predictor`` the image plugin registers (:mod:`jepa_vit.predictor`,
any 2-D grid) with A-JEPA's masks.
"""

from __future__ import annotations

from jepa_core.hookspecs import hookimpl
from jepa_core.specs import EncoderSpec, FolderDatasetSpec
from jepa_vit.timm_export import exporter_spec as timm_exporter_spec

from .datasets import dataset_specs
from .masks import masker_specs
from .presets import preset_specs
from .spectrogram_vit import SpectrogramViTConfig, build_spectrogram_vit

JEPA_PLUGIN_NAME = "audio"


@hookimpl
def jepa_encoders():
    yield EncoderSpec(
        name="spectrogram_vit",
        config_type=SpectrogramViTConfig,
        build=build_spectrogram_vit,
        description=(
            "ViT on log-mel spectrograms [1, T, F]: 16x16 patches over (time, frequency), 2-D sin-cos, no class token"
        ),
        # conformance tests: one block on a 4 x 2 grid
        example=lambda: SpectrogramViTConfig(size="tiny", num_frames=64, num_mels=32, depth=1),
    )


@hookimpl
def jepa_maskers():
    return masker_specs()


@hookimpl
def jepa_datasets():
    return dataset_specs()


@hookimpl
def jepa_presets():
    return preset_specs()


@hookimpl
def jepa_folder_dataset():
    return FolderDatasetSpec(dataset="wav_folder")


@hookimpl
def jepa_exporters():
    yield timm_exporter_spec()  # the spectrogram ViT is the image ViT: timm's VisionTransformer holds it
