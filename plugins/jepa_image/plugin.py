"""The image plugin's hook implementations (entry point ``image`` in ``jepa.plugins``).

It registers exactly as a third-party package would: through the entry-point group in
``pyproject.toml``; the core never imports it by name.
"""

from __future__ import annotations

from jepa_core.hookspecs import hookimpl
from jepa_core.specs import EncoderSpec, Example, FolderDatasetSpec, PredictorSpec
from jepa_vit.predictor import PredictorConfig, build_predictor
from jepa_vit.timm_export import exporter_spec as timm_exporter_spec

from .datasets import dataset_specs
from .ijepa_yaml import config_format_spec
from .masks import masker_specs
from .presets import preset_specs
from .vit import ViTConfig, build_vit

JEPA_PLUGIN_NAME = "image"


@hookimpl
def jepa_encoders():
    yield EncoderSpec(
        name="vit",
        config_type=ViTConfig,
        build=build_vit,
        description="ViT (no class token, fixed 2-D sin-cos positions); I-JEPA checkpoint keys",
        # conformance tests: one block on a 4x4 grid (input shape from expected_input_shape)
        example=lambda: ViTConfig(size="tiny", img_size=32, patch_size=8, depth=1),
    )


@hookimpl
def jepa_predictors():
    yield PredictorSpec(
        name="vit_predictor",
        config_type=PredictorConfig,
        build=build_predictor,
        description="narrow ViT predictor: shared mask token + sin-cos positions, one sequence per target",
        example=lambda: Example(options=PredictorConfig(embed_dim=48, depth=1), encoder="vit"),
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
def jepa_config_formats():
    yield config_format_spec()


@hookimpl
def jepa_folder_dataset():
    return FolderDatasetSpec(dataset="image_folder")


@hookimpl
def jepa_exporters():
    yield timm_exporter_spec()
