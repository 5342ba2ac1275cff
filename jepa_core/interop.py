"""Checkpoint formats: this project's checkpoints and the released I-JEPA ``.pth.tar`` files.

Two formats are read (always with ``weights_only=True``):

* ``jepaforge``: written by :mod:`jepa_core.checkpoint`; a dict with ``format == "jepaforge"``,
  the networks ``encoder``/``predictor``/``target_encoder``, ``opt``, position, RNGs and the
  resolved run ``config``;
* ``ijepa``: the released I-JEPA format; a dict with ``encoder``, ``predictor`` and
  ``target_encoder`` state_dicts (keys prefixed ``module.``) plus ``opt``, ``scaler``, ``epoch``,
  ``loss``, ``batch_size``, ``world_size`` and ``lr``. It holds no config: the caller says the
  architecture (``--plugin image --preset vith14``, ``--set`` overrides).

Example::

    ckpt = read_checkpoint("IN1K-vit.h.14-300e.pth.tar")
    ckpt.format                                   # 'ijepa'
    load_networks(ckpt, encoder=enc, target_encoder=tgt)   # strict; names mismatched keys
    infer_architecture(ckpt.network("encoder"))   # {'embed_dim': 1280, 'depth': 32, ...}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import attrs
import torch
from torch import nn

from jepa_core import parallel
from jepa_core.checkpoint import FORMAT, latest_checkpoint, load_checkpoint, strip_prefix
from jepa_core.errors import CheckpointError

Format = Literal["jepaforge", "ijepa"]
FORMATS: tuple[str, ...] = ("jepaforge", "ijepa")
NETWORKS: tuple[str, ...] = ("encoder", "predictor", "target_encoder")
OPTIONAL_NETWORKS: tuple[str, ...] = ("objective",)  # an objective's own trained head (e.g. LeJEPA's projector)
IJEPA_EXTRA_KEYS: tuple[str, ...] = ("opt", "scaler", "epoch", "loss", "batch_size", "world_size", "lr")


def _is_state_dict(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(k, str) for k in value)


def detect_format(state: Any, *, source: str = "the checkpoint") -> Format:
    """``"jepaforge"`` or ``"ijepa"`` for a loaded checkpoint dict; CheckpointError for anything else.

    A dict without a ``format`` entry is the released I-JEPA format when it holds the three
    network state_dicts (their ``module.`` prefix is optional: re-saved copies often drop it).

    >>> detect_format({"format": "jepaforge", "encoder": {}})
    'jepaforge'
    """
    if not isinstance(state, dict):
        raise CheckpointError(f"{source} holds a {type(state).__name__}, not a checkpoint dict.")
    if "format" in state:
        if state["format"] == FORMAT:
            return "jepaforge"
        raise CheckpointError(
            f"{source} has format {state['format']!r}; supported formats: {FORMAT!r} and the released I-JEPA format."
        )
    if all(_is_state_dict(state.get(k)) for k in NETWORKS):
        return "ijepa"
    keys = ", ".join(sorted(map(str, state))[:8]) or "none"
    raise CheckpointError(
        f"{source} is neither a jepaforge checkpoint (no 'format' entry) nor a released I-JEPA checkpoint "
        f"(needs 'encoder', 'predictor' and 'target_encoder' state_dicts); its keys are: {keys}."
    )


@attrs.frozen
class Checkpoint:
    """A loaded checkpoint, its ``format`` and where it came from."""

    source: str
    format: str
    state: dict[str, Any] = attrs.field(repr=False)

    @property
    def config(self) -> dict[str, Any] | None:
        """The run config stored in a jepaforge checkpoint (``None`` for the released format)."""
        cfg = self.state.get("config") if self.format == "jepaforge" else None
        return cfg if isinstance(cfg, dict) else None

    def trained_as(self) -> str:
        """``" (trained with preset image/small, encoder 'vit')"`` from a jepaforge checkpoint's stored config;
        empty when it holds none (a released file)."""
        cfg = self.config or {}
        encoder = cfg.get("encoder")
        name = encoder.get("name") if isinstance(encoder, dict) else None
        run = f"{cfg.get('plugin')}/{cfg.get('preset')}" if cfg.get("plugin") else None
        parts = [f"preset {run}" if run else None, f"encoder '{name}'" if name else None]
        shown = ", ".join(p for p in parts if p)
        return f" (trained with {shown})" if shown else ""

    def network(self, name: str) -> dict[str, Any]:
        """State_dict of network ``name`` (one of :data:`NETWORKS`) without the ``module.`` prefix."""
        if name not in NETWORKS + OPTIONAL_NETWORKS:
            raise CheckpointError(
                f"unknown network '{name}'; valid networks: {', '.join(NETWORKS + OPTIONAL_NETWORKS)}."
            )
        sd = self.state.get(name)
        if not isinstance(sd, dict):
            raise CheckpointError(
                f"checkpoint '{self.source}' has no '{name}' state; keys present: {', '.join(sorted(self.state))}."
            )
        return strip_prefix(sd)


def resolve_checkpoint_path(path: str | Path) -> Path:
    """``path`` itself, or for a run directory its newest ``checkpoints/step_*.pt``."""
    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path / "checkpoints") or latest_checkpoint(path)
        if found is None:
            raise CheckpointError(f"directory '{path}' holds no checkpoints (looked for checkpoints/step_*.pt).")
        return found
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint file (or a run directory's newest) safely and detect its format.

    >>> read_checkpoint("runs/demo").format          # doctest: +SKIP
    'jepaforge'
    """
    path = resolve_checkpoint_path(path)
    state = load_checkpoint(path, map_location=map_location)
    return Checkpoint(str(path), detect_format(state, source=f"checkpoint '{path}'"), state)


# --------------------------------------------------------------------- architecture

_BLOCK = re.compile(r"^(blocks|predictor_blocks)\.(\d+)\.")


def _depth(state_dict: dict[str, Any], prefix: str) -> int:
    return len({int(m.group(2)) for k in state_dict if (m := _BLOCK.match(k)) and m.group(1) == prefix})


def _grid(num_tokens: int) -> str:
    side = int(round(num_tokens**0.5))
    return f"{side}x{side}" if side * side == num_tokens else str(num_tokens)


def infer_architecture(state_dict: dict[str, Any]) -> dict[str, Any]:
    """What the I-JEPA key layout tells about a ViT encoder or predictor (``{}`` if neither).

    Encoder: ``embed_dim``, ``depth``, ``patch_size``, ``in_chans``, ``grid``, ``mlp_dim``.
    Predictor: ``predictor_dim``, ``predictor_depth``, ``encoder_dim``, ``grid``.

    >>> infer_architecture(vit.state_dict())          # doctest: +SKIP
    {'embed_dim': 192, 'depth': 2, 'patch_size': 8, 'in_chans': 3, 'grid': '4x4', 'mlp_dim': 768}
    """
    sd = strip_prefix(state_dict)
    out: dict[str, Any] = {}
    w = _shape(sd, "patch_embed.proj.weight")
    if w is not None and len(w) == 4:
        out.update(embed_dim=w[0], depth=_depth(sd, "blocks"), patch_size=w[-1], in_chans=w[1])
        pos = _shape(sd, "pos_embed")
        if pos is not None and len(pos) == 3:
            out["grid"] = _grid(pos[1])
        fc1 = _shape(sd, "blocks.0.mlp.fc1.weight")
        if fc1 is not None:
            out["mlp_dim"] = fc1[0]
    w = _shape(sd, "predictor_embed.weight")
    if w is not None and len(w) == 2:
        out.update(predictor_dim=w[0], predictor_depth=_depth(sd, "predictor_blocks"), encoder_dim=w[1])
        pos = _shape(sd, "predictor_pos_embed")
        if pos is not None and len(pos) == 3:
            out["grid"] = _grid(pos[1])
    return out


def _shape(state_dict: dict[str, Any], key: str) -> tuple[int, ...] | None:
    """The shape of ``state_dict[key]`` as ints, or None when it is absent or has no shape."""
    value = state_dict.get(key)
    return None if value is None or not hasattr(value, "shape") else tuple(int(s) for s in value.shape)


def describe_architecture(arch: dict[str, Any]) -> str:
    """``"embed_dim 1280, depth 32, patch_size 14, ..."``."""
    return ", ".join(f"{k} {v}" for k, v in arch.items())


def load_network(
    module: nn.Module, state_dict: dict[str, Any], *, what: str, source: str, trained_as: str = ""
) -> None:
    """Strict load of ``state_dict`` into ``module``; a mismatch is a CheckpointError naming the
    differing architecture fields (depth, width, patch, grid), the mismatched keys/shapes and what
    the checkpoint was trained as (``trained_as``: :meth:`Checkpoint.trained_as`).
    ``module`` may be plain or sharded (FSDP): :func:`jepa_core.parallel.load_module_state`."""
    try:
        parallel.load_module_state(module, strip_prefix(state_dict), what=what)
    except CheckpointError as err:
        ours, theirs = infer_architecture(module.state_dict()), infer_architecture(state_dict)
        diffs = [f"{k} {theirs[k]} vs {ours[k]}" for k in theirs if k in ours and theirs[k] != ours[k]]
        arch = f"; architecture (checkpoint vs model): {', '.join(diffs)}" if diffs else ""
        raise CheckpointError(
            f"{str(err).rstrip('.')}{arch}; checkpoint '{source}'{trained_as} (choose the matching --preset or --set "
            f"{'encoder' if what != 'predictor' else 'predictor'}.* overrides)."
        ) from err


def load_networks(
    ckpt: Checkpoint,
    *,
    encoder: nn.Module | None = None,
    predictor: nn.Module | None = None,
    target_encoder: nn.Module | None = None,
) -> None:
    """Strictly load each given network from ``ckpt`` (either format).

    >>> load_networks(read_checkpoint(path), encoder=enc, predictor=pred, target_encoder=tgt)  # doctest: +SKIP
    """
    for name, module in (("encoder", encoder), ("predictor", predictor), ("target_encoder", target_encoder)):
        if module is not None:
            load_network(module, ckpt.network(name), what=name, source=ckpt.source, trained_as=ckpt.trained_as())


@attrs.frozen
class Initialised:
    """What :func:`init_trainer_from` did: the checkpoint it read, the networks it loaded, and how
    the run's other networks start (a source trained without them, e.g. by LeJEPA).

    >>> init = init_trainer_from("runs/lejepa_demo", trainer)  # doctest: +SKIP
    >>> init.describe()                                        # doctest: +SKIP
    'encoder from runs/lejepa_demo/checkpoints/step_00000384.pt (jepaforge format); predictor: a fresh init ...'
    """

    checkpoint: Checkpoint
    loaded: tuple[str, ...]
    started: tuple[str, ...] = ()  # "predictor: a fresh init (...)"

    def describe(self) -> str:
        names = [name.replace("_", " ") for name in self.loaded]
        names_text = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)
        started = "".join(f"; {note}" for note in self.started)
        return f"{names_text} from {self.checkpoint.source} ({self.checkpoint.format} format){started}"


_NOT_FROZEN = object()  # a target provider without a ``teacher_checkpoint``: not a frozen teacher


def init_trainer_from(path: str | Path, trainer: Any, map_location: str | torch.device = "cpu") -> Initialised:
    """Initialise a :class:`~jepa_core.trainer.Trainer`'s networks from ``path`` (weights only:
    the optimizer, schedules and step start afresh), e.g. to continue pretraining a released model.

    Networks this run has (``trainer.networks()``: the encoder, and the predictor and target
    encoder unless the objective does without them) are loaded strictly, except where the
    checkpoint was trained without one (an empty state, e.g. LeJEPA's): its predictor then keeps
    its fresh init and its target encoder starts as a copy of the loaded encoder, as a fresh run's
    does. An objective head (e.g. LeJEPA's projector) is loaded only when the checkpoint has one.
    A frozen teacher (:mod:`jepa_core.frozen_target`) keeps the weights of its own
    ``target.checkpoint``, or without one becomes a copy of the loaded encoder (the student's
    initial weights).
    """
    ckpt = read_checkpoint(path, map_location=map_location)
    loaded: list[str] = []
    started: list[str] = []
    teacher = getattr(getattr(trainer, "target", None), "teacher_checkpoint", _NOT_FROZEN)
    for name, module in trainer.networks().items():
        if not any(True for _ in module.state_dict()):
            continue  # a placeholder ('none' predictor): nothing to load
        if name == "target_encoder" and teacher is not _NOT_FROZEN:
            if teacher is not None:
                started.append(f"target encoder: the frozen teacher of target.checkpoint '{teacher}'")
                continue
            load_network(
                module, ckpt.network("encoder"), what="encoder", source=ckpt.source, trained_as=ckpt.trained_as()
            )
            started.append("target encoder: a frozen copy of the loaded encoder")
            continue
        if name == "objective" and name not in ckpt.state:
            started.append("objective head: a fresh init (the checkpoint has none)")
            continue
        if name in ("predictor", "target_encoder") and ckpt.state.get(name) == {}:
            if name == "target_encoder":
                load_network(
                    module, ckpt.network("encoder"), what="encoder", source=ckpt.source, trained_as=ckpt.trained_as()
                )
                started.append("target encoder: a copy of the loaded encoder (the checkpoint has none)")
            else:
                started.append("predictor: a fresh init (the checkpoint has none)")
            continue
        load_network(module, ckpt.network(name), what=name, source=ckpt.source, trained_as=ckpt.trained_as())
        loaded.append(name)
    return Initialised(ckpt, tuple(loaded), tuple(started))
