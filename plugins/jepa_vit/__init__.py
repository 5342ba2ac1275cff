"""Vision Transformer parts shared by the image, video and audio plugins (a library, not a plugin).

Each plugin builds its encoders, predictors, maskers, datasets and presets from these parts and
imports nothing from another plugin; a third-party plugin may use them the same way. Modules:

- :mod:`~jepa_vit.sizes`: the ViT size table and the checks of a ``size``-based config;
- :mod:`~jepa_vit.pos_embed`: fixed 1-D, 2-D and 3-D sin-cos positions;
- :mod:`~jepa_vit.vit`: transformer blocks (init, checkpointed runs) and the 2-D ViT encoder;
- :mod:`~jepa_vit.stem`: its patch embeddings (one convolution, or a conv stem for small images);
- :mod:`~jepa_vit.predictor`: the narrow predictor (mask tokens, index checks, sin-cos positions);
- :mod:`~jepa_vit.masks`: multi-block and random masking on a 2-D token grid;
- :mod:`~jepa_vit.transforms`, :mod:`~jepa_vit.images`: pixel statistics, crop options, image decoding;
- :mod:`~jepa_vit.shapes`, :mod:`~jepa_vit.synthetic`: drawing synthetic shapes, synthetic-dataset splits;
- :mod:`~jepa_vit.presets`: the CPU demos' schedule, training loop and probe;
- :mod:`~jepa_vit.timm_export`: exporting the 2-D ViT encoder to timm.

Example::

    from jepa_vit import PredictorConfig, VisionTransformer, build_predictor

    enc = VisionTransformer(img_size=(64, 32), patch_size=16, in_chans=1, embed_dim=192, depth=2, num_heads=3)
    pred = build_predictor(PredictorConfig(embed_dim=96, depth=1), enc)   # grid (4, 2), 2-D sin-cos
"""

from __future__ import annotations

from .images import IMAGE_EXTENSIONS, load_8bit, load_rgb
from .masks import MultiBlockConfig, MultiBlockMasker, RandomConfig, RandomMasker
from .pos_embed import sincos_pos_embed_1d, sincos_pos_embed_2d, sincos_pos_embed_3d
from .predictor import (
    PredictorBase,
    PredictorConfig,
    ViTPredictor,
    add_mask_tokens,
    build_predictor,
    check_index_shapes,
    mask_token_for,
    mask_token_list,
)
from .presets import DEMO_PROBE, SMALL_SCALE_OPTIM, demo_train
from .shapes import SHAPES, PixelGrid, add_distractor_dot, object_range, paint_background, shape_mask
from .sizes import VIT_SIZES, check_heads, check_known_size, check_size, resolve_size
from .synthetic import SPLIT_IDS, SyntheticDataset, synthetic_split
from .timm_export import export_timm, load_timm, timm_spec
from .transforms import IMAGENET_MEAN, IMAGENET_STD, check_crop_scale
from .vit import VisionTransformer, init_weights, make_block, norm_layer, run_blocks

__all__ = [
    "DEMO_PROBE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "MultiBlockConfig",
    "MultiBlockMasker",
    "PixelGrid",
    "PredictorBase",
    "PredictorConfig",
    "RandomConfig",
    "RandomMasker",
    "SHAPES",
    "SMALL_SCALE_OPTIM",
    "SPLIT_IDS",
    "SyntheticDataset",
    "VIT_SIZES",
    "ViTPredictor",
    "VisionTransformer",
    "add_distractor_dot",
    "add_mask_tokens",
    "build_predictor",
    "check_crop_scale",
    "check_heads",
    "check_index_shapes",
    "check_known_size",
    "check_size",
    "demo_train",
    "export_timm",
    "init_weights",
    "load_8bit",
    "load_rgb",
    "load_timm",
    "make_block",
    "mask_token_for",
    "mask_token_list",
    "norm_layer",
    "object_range",
    "paint_background",
    "resolve_size",
    "run_blocks",
    "shape_mask",
    "sincos_pos_embed_1d",
    "sincos_pos_embed_2d",
    "sincos_pos_embed_3d",
    "synthetic_split",
    "timm_spec",
]
