"""Feature extraction for research code: load a frozen encoder, get features of an image batch.

Example::

    from jepa_core.extract import load_encoder, extract
    enc = load_encoder("runs/demo")                              # newest checkpoint, target encoder
    feats = extract(enc, images)                                 # [B, D], average-pooled
    tokens = extract(enc, images, pool="none")                   # [B, N, D]
    enc = load_encoder("IN1K-vit.h.14-300e.pth.tar", plugin="image", preset="vith14")  # released file
    enc = load_encoder("image/demo")                             # a preset at random init (baseline)

A checkpoint is either format (:mod:`jepa_core.interop`): this project's files carry their
config; a released I-JEPA file needs ``plugin``/``preset`` (and ``overrides``) for the architecture.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import torch
from torch import nn

from jepa_core.config import RunConfig, apply_overrides, from_dict
from jepa_core.errors import ConfigError
from jepa_core.eval.features import check_pool, encode
from jepa_core.interop import Checkpoint, load_network, read_checkpoint
from jepa_core.registry import Registry, build_registry

WHICH: dict[str, str] = {"target": "target_encoder", "context": "encoder"}


@attrs.frozen
class LoadedEncoder:
    """A frozen encoder, the run config that built it and the checkpoint it came from (if any)."""

    encoder: nn.Module
    config: RunConfig
    checkpoint: Checkpoint | None
    which: str


def _registry(registry: Registry | None) -> Registry:
    return registry if registry is not None else build_registry()


def run_config(
    ckpt: Checkpoint | None,
    registry: Registry,
    *,
    plugin: str | None = None,
    preset: str | None = None,
    overrides: Sequence[str] = (),
) -> RunConfig:
    """The config that describes ``ckpt``'s architecture: ``plugin``/``preset`` when given, else the
    config stored in a jepaforge checkpoint; then ``overrides`` (``section.key=value``)."""
    if plugin or preset:
        if not (plugin and preset):
            raise ConfigError("give both --plugin and --preset (e.g. --plugin image --preset vith14), or neither.")
        cfg = registry.preset(plugin, preset).build()
    elif ckpt is not None and ckpt.config is not None:
        cfg = from_dict(ckpt.config, registry)
    elif ckpt is not None and ckpt.format == "ijepa":
        raise ConfigError(
            f"checkpoint '{ckpt.source}' is in the released I-JEPA format and holds no config; pass --plugin "
            "and --preset for its architecture (e.g. --plugin image --preset vith14)."
        )
    else:
        where = f"checkpoint '{ckpt.source}'" if ckpt is not None else "the request"
        raise ConfigError(f"{where} holds no run config; pass --plugin and --preset for its architecture.")
    return apply_overrides(cfg, list(overrides), registry)


def preset_reference(text: str, registry: Registry) -> tuple[str, str] | None:
    """``(plugin, preset)`` when ``text`` is ``"plugin/preset"`` (not an existing path), else ``None``."""
    parts = text.split("/")
    if len(parts) == 2 and not Path(text).exists() and parts[0] in registry.preset_plugins():
        return parts[0], parts[1]
    return None


def probes_read_target(cfg: RunConfig, registry: Registry) -> bool:
    """Whether probes of a ``cfg`` run read its target encoder (an EMA teacher) rather than the
    context encoder: the target provider's ``probed`` (:class:`jepa_core.specs.TargetProviderSpec`).

    >>> probes_read_target(lejepa_cfg, registry), probes_read_target(demo_cfg, registry)   # doctest: +SKIP
    (False, True)
    """
    return bool(registry.get("target", cfg.target.name).probed)


def encoder_label(cfg: RunConfig, registry: Registry, which: str = "target") -> str:
    """What results call the ``which`` encoder of a ``cfg`` run: ``"target encoder"``,
    ``"context encoder"``, or ``"encoder"`` for a run whose target is not probed (no teacher, as
    LeJEPA, or a frozen one: its one trained network).

    >>> encoder_label(lejepa_cfg, registry)   # doctest: +SKIP
    'encoder'
    """
    return f"{which} encoder" if probes_read_target(cfg, registry) else "encoder"


def resolve_which(cfg: RunConfig, registry: Registry, which: str = "target") -> str:
    """The encoder ``which`` names in a ``cfg`` run: ``"context"`` for ``"target"`` when probes
    do not read the target (:func:`probes_read_target`: no teacher, as LeJEPA, or a frozen one;
    the context encoder is the network the run trains), else ``which``.

    >>> resolve_which(lejepa_cfg, registry, "target")   # doctest: +SKIP
    'context'
    """
    if which not in WHICH:
        raise ConfigError(f"unknown encoder '{which}'; valid encoders: {', '.join(WHICH)}.")
    return "context" if which == "target" and not probes_read_target(cfg, registry) else which


def build_encoder(cfg: RunConfig, registry: Registry, ckpt: Checkpoint | None, which: str = "target") -> nn.Module:
    """Build ``cfg``'s encoder (seeded by ``train.seed``) and, given ``ckpt``, load its ``which``
    encoder (:func:`resolve_which`) strictly; the result is frozen and in eval mode."""
    which = resolve_which(cfg, registry, which)
    torch.manual_seed(cfg.train.seed)  # a preset at random init is the same on every call
    encoder = registry.get("encoder", cfg.encoder.name).build(cfg.encoder.options)
    if ckpt is not None:
        load_network(
            encoder, ckpt.network(WHICH[which]), what=WHICH[which], source=ckpt.source, trained_as=ckpt.trained_as()
        )
    encoder.requires_grad_(False)
    return encoder.eval()


def load(
    checkpoint_or_preset: str | Path,
    which: str = "target",
    *,
    plugin: str | None = None,
    preset: str | None = None,
    overrides: Sequence[str] = (),
    registry: Registry | None = None,
    device: torch.device | str = "cpu",
) -> LoadedEncoder:
    """Like :func:`load_encoder` but also returns the config and the checkpoint."""
    if which not in WHICH:
        raise ConfigError(f"unknown encoder '{which}'; valid encoders: {', '.join(WHICH)}.")
    registry = _registry(registry)
    named = preset_reference(str(checkpoint_or_preset), registry)
    ckpt = None if named else read_checkpoint(checkpoint_or_preset)
    if named:
        plugin, preset = plugin or named[0], preset or named[1]
    cfg = run_config(ckpt, registry, plugin=plugin, preset=preset, overrides=overrides)
    return LoadedEncoder(build_encoder(cfg, registry, ckpt, which).to(device), cfg, ckpt, which)


def load_encoder(
    checkpoint_or_preset: str | Path,
    which: str = "target",
    *,
    plugin: str | None = None,
    preset: str | None = None,
    overrides: Sequence[str] = (),
    registry: Registry | None = None,
    device: torch.device | str = "cpu",
) -> nn.Module:
    """A frozen encoder (eval mode, no grad) from a checkpoint, a run directory or ``"plugin/preset"``.

    ``which``: ``"target"`` (the EMA encoder; what the paper evaluates) or ``"context"``; runs
    without a target encoder (``target.name=none``, e.g. LeJEPA) give their encoder for either.

    >>> enc = load_encoder("runs/demo/checkpoints/step_00000320.pt", which="context")  # doctest: +SKIP
    """
    return load(
        checkpoint_or_preset, which, plugin=plugin, preset=preset, overrides=overrides, registry=registry, device=device
    ).encoder


@torch.no_grad()
def extract(encoder: nn.Module, images: torch.Tensor, pool: str = "mean") -> torch.Tensor:
    """Features of ``images [B, C, H, W]``: ``pool='mean'`` -> ``[B, D]``, ``'last4'`` -> ``[B, 4D]``,
    ``'none'`` -> ``[B, N, D]``; computed on the encoder's device, returned there.

    >>> extract(load_encoder("image/demo"), torch.randn(2, 3, 64, 64)).shape   # doctest: +SKIP
    torch.Size([2, 128])
    """
    check_pool(pool)
    if not images.is_floating_point():
        raise ValueError(
            f"extract takes floating-point images prepared as the training data were (the dataset's tensors), "
            f"got dtype {images.dtype}"
        )
    param = next(encoder.parameters(), None)
    device = param.device if param is not None else images.device
    was_training = encoder.training
    encoder.eval()
    try:
        return encode(encoder, images.to(device), pool)
    finally:
        encoder.train(was_training)
