"""Dataset specs of the image plugin: ``image_folder`` and ``synthetic_shapes``.

Example::

    specs = {s.name: s for s in dataset_specs()}
    ds = specs["synthetic_shapes"].build(SyntheticShapesConfig(resolution=32), "val")
"""

from __future__ import annotations

from jepa_core.specs import DatasetSpec
from jepa_image.folder import ImageFolderConfig, build_image_folder
from jepa_image.synthetic import SyntheticShapesConfig, build_synthetic


def dataset_specs() -> list[DatasetSpec]:
    """The image datasets this plugin registers."""
    return [
        DatasetSpec(
            sample_noun="images",
            name="image_folder",
            config_type=ImageFolderConfig,
            build=build_image_folder,
            description="images from a folder: one sub-folder per class, or a flat folder (labels -1)",
            example=None,  # needs image files: tests/jepa_core/test_conformance.py checks it on a tmp folder
        ),
        DatasetSpec(
            sample_noun="images",
            name="synthetic_shapes",
            config_type=SyntheticShapesConfig,
            build=build_synthetic,
            description="generated shapes on textured backgrounds, class = shape kind (no files needed)",
            example=lambda: SyntheticShapesConfig(num_train=4, num_val=4, resolution=16),
        ),
    ]
