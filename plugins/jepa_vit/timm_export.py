"""Export the 2-D ViT encoder (:class:`jepa_vit.vit.VisionTransformer`: the image plugin's
``vit``, the audio plugin's ``spectrogram_vit``) as a timm ``VisionTransformer`` state_dict.

The encoder's keys already follow timm's layout (``patch_embed.proj.*``, ``pos_embed``,
``blocks.{i}.*``, ``norm.*``); the matching timm model has no class token, a ``pos_embed`` of
shape ``[1, N, D]`` (our fixed sin-cos table becomes timm's learnable one), the final LayerNorm
on the tokens (``fc_norm=False``) and average pooling (``global_pool='avg'``), so its pooled
features equal the encoder's mean of normed tokens.

Example::

    info = export_timm(encoder, "model.pth")        # also writes model.json
    model = timm.create_model(info.model_name, pretrained=False, **info.kwargs)
    model.load_state_dict(torch.load("model.pth", weights_only=True))
    feats = model(images)                           # [B, D] == encoder(images).mean(1)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import nn

from jepa_core.errors import CheckpointError, ConfigError
from jepa_core.specs import ExporterSpec

# embed_dim -> timm model name of that width (the kwargs set every size explicitly anyway)
TIMM_NAMES: dict[int, str] = {
    192: "vit_tiny_patch16_224",
    384: "vit_small_patch16_224",
    768: "vit_base_patch16_224",
    1024: "vit_large_patch16_224",
    1280: "vit_huge_patch14_224",
    1408: "vit_giant_patch14_224",
}
DEFAULT_NAME = "vit_base_patch16_224"


@attrs.frozen
class TimmExport:
    """What was written and how to rebuild it with timm."""

    model_name: str
    kwargs: dict[str, Any]
    weights: Path
    config: Path

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return (
            f"wrote {self.weights} and {self.config}\n"
            f"timm model: {self.model_name}\n"
            f"  model = timm.create_model({self.model_name!r}, {args})\n"
            f"  model.load_state_dict(torch.load({str(self.weights)!r}, weights_only=True))"
        )


def _img_size(encoder: Any) -> int | list[int]:
    """A side for square inputs, else ``[H, W]`` (timm takes either)."""
    h, w = getattr(encoder, "input_hw", (encoder.img_size, encoder.img_size))
    return int(h) if h == w else [int(h), int(w)]


def _mlp_ratio(dim: int, hidden: int) -> float:
    """A ratio for which timm's ``int(dim * ratio)`` gives back ``hidden`` exactly."""
    for ratio in (hidden / dim, (hidden + 0.5) / dim):
        if int(dim * ratio) == hidden:
            return ratio
    raise ConfigError(f"cannot express MLP width {hidden} for embed dim {dim} as a timm mlp_ratio.")


def timm_spec(encoder: nn.Module) -> tuple[str, dict[str, Any]]:
    """``(model_name, create_model kwargs)`` of the timm ViT matching ``encoder``.

    >>> vit = VisionTransformer(img_size=32, patch_size=8, embed_dim=192, depth=1, num_heads=3)  # doctest: +SKIP
    >>> timm_spec(vit)[1]["depth"]  # doctest: +SKIP
    1
    """
    needed = ("img_size", "patch_size", "in_chans", "embed_dim", "num_heads", "blocks", "norm", "pos_embed")
    missing = [a for a in needed if not hasattr(encoder, a)]
    if missing:
        raise ConfigError(
            f"timm export needs the image plugin's ViT encoder; {type(encoder).__name__} lacks {', '.join(missing)}."
        )
    if getattr(encoder, "stem", "patch") != "patch":
        raise ConfigError(f"timm export supports the ViT's patch stem only; this encoder has stem={encoder.stem!r}.")
    dim = int(encoder.embed_dim)
    hidden = int(encoder.blocks[0].mlp.fc1.out_features) if len(encoder.blocks) else 4 * dim
    kwargs: dict[str, Any] = {
        "pretrained": False,
        "num_classes": 0,
        "global_pool": "avg",
        "class_token": False,
        "fc_norm": False,
        "img_size": _img_size(encoder),
        "patch_size": int(encoder.patch_size),
        "in_chans": int(encoder.in_chans),
        "embed_dim": dim,
        "depth": len(encoder.blocks),
        "num_heads": int(encoder.num_heads),
        "mlp_ratio": _mlp_ratio(dim, hidden),
        "qkv_bias": True,
    }
    return TIMM_NAMES.get(dim, DEFAULT_NAME), kwargs


def timm_state_dict(encoder: nn.Module) -> dict[str, torch.Tensor]:
    """The encoder's weights under timm's names (the same names), as contiguous CPU tensors."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in encoder.state_dict().items()}


def check_against_timm(name: str, kwargs: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> None:
    """Build the timm model on the meta device (no memory, no download) and compare keys/shapes."""
    import timm

    model = timm.create_model(name, **{**kwargs, "device": "meta"})
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    ours = {k: tuple(v.shape) for k, v in state_dict.items()}
    if own != ours:
        bad = sorted(set(own) ^ set(ours)) + sorted(k for k in set(own) & set(ours) if own[k] != ours[k])
        raise CheckpointError(
            f"the exported weights do not fit timm model '{name}': mismatched keys {', '.join(bad[:5])}."
        )


def export_timm(encoder: nn.Module, out: str | Path, *, metadata: dict[str, Any] | None = None) -> TimmExport:
    """Write ``out`` (state_dict for timm) and ``out`` with suffix ``.json`` (model name + kwargs)."""
    out = Path(out)
    name, kwargs = timm_spec(encoder)
    sd = timm_state_dict(encoder)
    check_against_timm(name, kwargs, sd)
    out.parent.mkdir(parents=True, exist_ok=True)
    config = out.with_suffix(".json") if out.suffix != ".json" else out.with_name(out.name + ".timm.json")
    torch.save(sd, out)
    info = {"timm_model": name, "kwargs": kwargs, "weights": out.name, **(metadata or {})}
    config.write_text(json.dumps(info, indent=2) + "\n")
    return TimmExport(name, kwargs, out, config)


def load_timm(config: str | Path) -> nn.Module:
    """Rebuild an exported model from its JSON (weights next to it); needs only timm.

    >>> model = load_timm("model.json")               # doctest: +SKIP
    """
    import timm

    config = Path(config)
    info = json.loads(config.read_text())
    model = timm.create_model(info["timm_model"], **info["kwargs"])
    model.load_state_dict(torch.load(config.parent / info["weights"], weights_only=True))
    return model.eval()


def exporter(encoder: nn.Module, out: str | Path, metadata: dict[str, Any]) -> TimmExport:
    """``jepa export timm``: :func:`export_timm` with the checkpoint's ``metadata`` in the JSON."""
    return export_timm(encoder, out, metadata=metadata)


def exporter_spec() -> ExporterSpec:
    """The ``timm`` format for a plugin whose encoders are this ViT (yielded by its ``jepa_exporters``)."""
    return ExporterSpec(
        name="timm",
        export=exporter,
        description="a state_dict + JSON for timm.create_model (no class token, avg pool)",
    )
