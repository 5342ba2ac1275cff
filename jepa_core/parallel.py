"""Distribution and speed options, applied to the models from outside (torchtitan style).

The models stay plain ``nn.Module``s; this module turns ``TrainConfig`` switches into changes
made in place, in this order: device -> attention kernel -> activation checkpointing ->
``torch.compile`` of each block -> FSDP2 sharding. DDP wraps the context path the :class:`~jepa_core.trainer.Trainer`
builds, through ``plan.wrap``::

    plan = apply_parallelism(encoder, predictor, target, cfg.train, device, info)
    trainer = Trainer(encoder, predictor, target, loss, optim=..., schedules=..., wrap=plan.wrap)

Strategies (``train.strategy``):

- ``none``: one process.
- ``ddp`` (``auto`` with more than one process): every rank holds the whole model;
  gradients of the context path (encoder + predictor) are all-reduced. The target encoder is
  not wrapped: each rank applies the same EMA update to its own identical copy.
- ``fsdp``: FSDP2 (``fully_shard``) for models whose weights and optimizer state do not fit
  one device (ViT-H/G). Each transformer block, then the root of the context encoder, the
  predictor and the context path are sharded; the target encoder is sharded the same way, so
  its shards line up with the context encoder's and the EMA update stays a local foreach op.

Checkpoints always hold full (unsharded) state dicts in the single-process format;
:func:`module_state_dict` / :func:`optimizer_state_dict` gather them under FSDP.

A model's "blocks" (the units compiled and sharded) are the items of its outermost
``nn.ModuleList``s, e.g. ``VisionTransformer.blocks`` or ``nn.TransformerEncoder.layers``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import attrs
import torch
from torch import nn

from jepa_core.config import TrainConfig
from jepa_core.dist import DistInfo, wrap_ddp
from jepa_core.errors import ConfigError
from jepa_core.hardware import resolve_precision

STRATEGIES = ("auto", "ddp", "fsdp", "none")
ATTENTION_MODES = ("auto", "fused", "math")


@attrs.frozen
class ParallelPlan:
    """What :func:`apply_parallelism` did; ``wrap`` goes to the Trainer (applied to the context path).

    >>> ParallelPlan("none", None).describe()
    'strategy none'
    """

    strategy: str
    wrap: Callable[[nn.Module], nn.Module] | None
    compiled_blocks: int = 0
    activation_checkpointing: bool = False
    fused_attention: tuple[int, int] = (0, 0)  # (layers using fused SDPA, attention layers seen)

    def describe(self) -> str:
        parts = [f"strategy {self.strategy}"]
        if self.compiled_blocks:
            parts.append(f"{self.compiled_blocks} blocks compiled")
        if self.activation_checkpointing:
            parts.append("activation checkpointing")
        if self.fused_attention[1]:
            parts.append(f"fused SDPA attention in {self.fused_attention[0]}/{self.fused_attention[1]} layers")
        return ", ".join(parts)


def resolve_strategy(strategy: str, info: DistInfo) -> str:
    """``auto`` -> ``ddp`` with several processes, else ``none``; refuses impossible combinations.

    >>> resolve_strategy("auto", DistInfo(0, 2)), resolve_strategy("auto", DistInfo())
    ('ddp', 'none')
    """
    if strategy not in STRATEGIES:
        raise ConfigError(f"train.strategy must be one of {', '.join(STRATEGIES)}, got '{strategy}'.")
    if strategy == "auto":
        return "ddp" if info.enabled else "none"
    if strategy == "none" and info.enabled:
        raise ConfigError(
            f"train.strategy='none' with {info.world_size} processes would train unsynchronised replicas; "
            "use 'auto', 'ddp' or 'fsdp'."
        )
    if strategy in ("ddp", "fsdp") and not info.enabled:
        raise ConfigError(
            f"train.strategy='{strategy}' needs several processes but this is a single one; launch with "
            "torchrun --nproc-per-node N (or srun) or use 'auto'."
        )
    return strategy


def transformer_blocks(module: nn.Module) -> list[nn.Module]:
    """The items of ``module``'s outermost ``nn.ModuleList``s, in registration order.

    >>> enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, batch_first=True), 3,
    ...                             enable_nested_tensor=False)
    >>> len(transformer_blocks(nn.Sequential(enc, nn.LayerNorm(8))))
    3
    """
    found: list[nn.Module] = []
    for child in module.children():
        if isinstance(child, nn.ModuleList):
            found.extend(child)
        else:
            found.extend(transformer_blocks(child))
    return found


def enable_activation_checkpointing(module: nn.Module, what: str) -> None:
    """Call the module's own ``set_grad_checkpointing(True)``; ConfigError if it has none."""
    setter = getattr(module, "set_grad_checkpointing", None)
    if not callable(setter):
        raise ConfigError(
            f"train.activation_checkpointing=true but the {what} ({type(module).__name__}) has no "
            "set_grad_checkpointing method; set train.activation_checkpointing=false."
        )
    setter(True)


def compile_blocks(modules: Iterable[nn.Module], backend: str = "inductor") -> int:
    """``torch.compile`` every block in place (state-dict keys unchanged); returns how many."""
    count = 0
    for module in modules:
        for block in transformer_blocks(module):
            block.compile(backend=backend)
            count += 1
    return count


def use_fused_attention(mode: str, device: torch.device, precision: str) -> bool:
    """Whether attention layers should run fused SDPA (``train.attention``): ``auto`` picks the
    explicit softmax(q k^T) v product for bf16 on a CPU, whose fused kernel is slower on the
    short token sequences of small ViTs (docs/results.md, attention and SIGReg on a CPU), and
    SDPA elsewhere.

    >>> cpu = torch.device("cpu")
    >>> use_fused_attention("auto", cpu, "bf16"), use_fused_attention("auto", cpu, "fp32")
    (False, True)
    """
    if mode not in ATTENTION_MODES:
        raise ConfigError(f"train.attention must be one of {', '.join(ATTENTION_MODES)}, got '{mode}'.")
    if mode == "auto":
        return not (device.type == "cpu" and resolve_precision(precision, device) == "bf16")  # type: ignore[arg-type]
    return mode == "fused"


def set_fused_attention(modules: Iterable[nn.Module], fused: bool) -> None:
    """Set every submodule's ``fused_attn`` flag (timm's SDPA switch, which the plugins' attention
    layers honour too)."""
    for module in modules:
        for m in module.modules():
            if hasattr(m, "fused_attn"):
                setattr(m, "fused_attn", fused)  # noqa: B010 (nn.Module's typed __setattr__)


def fused_attention_layers(modules: Iterable[nn.Module]) -> tuple[int, int]:
    """``(fused, total)`` over submodules with a ``fused_attn`` flag (timm's SDPA switch)."""
    flags = [bool(m.fused_attn) for module in modules for m in module.modules() if hasattr(m, "fused_attn")]
    return sum(flags), len(flags)


# ----------------------------------------------------------------------------- FSDP2


def fsdp_available() -> bool:
    try:
        from torch.distributed.fsdp import fully_shard  # noqa: F401
    except ImportError:
        return False
    return True


def _mixed_precision(precision: str) -> Any:
    from torch.distributed.fsdp import MixedPrecisionPolicy

    if precision == "bf16":  # all-gather bf16 weights, reduce gradients in fp32
        return MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    return MixedPrecisionPolicy()


def shard_module(module: nn.Module, mesh: Any, mp_policy: Any, *, reshard_root: bool | None = None) -> None:
    """``fully_shard`` each block, then ``module`` itself (its remaining parameters)."""
    from torch.distributed.fsdp import fully_shard

    for block in transformer_blocks(module):
        fully_shard(block, mesh=mesh, mp_policy=mp_policy, reshard_after_forward=True)
    fully_shard(module, mesh=mesh, mp_policy=mp_policy, reshard_after_forward=reshard_root)


def check_aligned(target: nn.Module, context: nn.Module) -> None:
    """Raise unless the target's local shards match the context encoder's one for one."""
    t_named, c_named = list(target.named_parameters()), list(context.named_parameters())
    if [n for n, _ in t_named] != [n for n, _ in c_named]:
        raise RuntimeError("the target and context encoders have different parameter names after sharding")
    for (name, t), (_, c) in zip(t_named, c_named, strict=True):
        same = type(t) is type(c) and _local(t).shape == _local(c).shape
        same = same and getattr(t, "placements", None) == getattr(c, "placements", None)
        if not same:
            raise RuntimeError(f"target and context shards of '{name}' differ; the EMA update would mix them")


def _local(t: torch.Tensor) -> torch.Tensor:
    return t.to_local() if hasattr(t, "to_local") else t


def _shard_target(target: nn.Module, encoder: nn.Module, mesh: Any, mp_policy: Any) -> None:
    inner = getattr(target, "encoder", None)
    own = {id(p) for p in target.parameters()}
    if not own:
        return  # a parameter-free target provider: nothing to shard
    if not isinstance(inner, nn.Module) or own != {id(p) for p in inner.parameters()}:
        raise ConfigError(
            f"train.strategy='fsdp' needs the target provider ({type(target).__name__}) to keep all its "
            "parameters in an '.encoder' module; use train.strategy='ddp'."
        )
    # The target runs forward only (no backward follows): reshard right after it.
    shard_module(inner, mesh, mp_policy, reshard_root=True)
    if [n for n, _ in inner.named_parameters()] == [n for n, _ in encoder.named_parameters()]:
        check_aligned(inner, encoder)


# ------------------------------------------------------------------------- entry point


def apply_parallelism(
    encoder: nn.Module,
    predictor: nn.Module,
    target: nn.Module,
    cfg: TrainConfig,
    device: torch.device,
    info: DistInfo,
    *,
    compile_backend: str = "inductor",
) -> ParallelPlan:
    """Apply ``cfg``'s strategy, activation checkpointing and compile to the models in place.

    Call after building the parts (same seed on every rank: FSDP does not broadcast) and
    before building the optimizer; pass ``plan.wrap`` to the Trainer.

    >>> plan = apply_parallelism(enc, pred, target, cfg.train, torch.device("cpu"), DistInfo())  # doctest: +SKIP
    >>> plan.describe()                                                                       # doctest: +SKIP
    'strategy none, fused SDPA attention in 13/13 layers'
    """
    strategy = resolve_strategy(cfg.strategy, info)
    if strategy == "fsdp":
        if not fsdp_available():
            raise ConfigError(
                f"train.strategy='fsdp' needs torch.distributed.fsdp.fully_shard (torch >= 2.6), this is "
                f"torch {torch.__version__}; use train.strategy='ddp'."
            )
        if cfg.precision == "fp16":
            raise ConfigError(
                "train.precision='fp16' is not supported with train.strategy='fsdp' (its loss scaler would "
                "see only local shards); use precision 'bf16'."
            )
    for module in (encoder, predictor, target):
        module.to(device)
    set_fused_attention((encoder, predictor, target), use_fused_attention(cfg.attention, device, cfg.precision))
    if cfg.activation_checkpointing:
        enable_activation_checkpointing(encoder, "encoder")
        enable_activation_checkpointing(predictor, "predictor")
    target_encoder = getattr(target, "encoder", None)
    compiled = 0
    if cfg.compile:
        to_compile = [encoder, predictor] + ([target_encoder] if isinstance(target_encoder, nn.Module) else [])
        compiled = compile_blocks(to_compile, backend=compile_backend)

    wrap: Callable[[nn.Module], nn.Module] | None = None
    if strategy == "ddp":
        # static_graph fails under no_sync (gradient accumulation): use it only without.
        static = cfg.batch_layout(info.world_size)[1] == 1

        def wrap(path: nn.Module) -> nn.Module:
            return wrap_ddp(path, device, static_graph=static)
    elif strategy == "fsdp":
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        mesh = init_device_mesh(device.type, (info.world_size,))
        mp_policy = _mixed_precision(cfg.precision)
        shard_module(encoder, mesh, mp_policy, reshard_root=True)
        shard_module(predictor, mesh, mp_policy, reshard_root=True)
        _shard_target(target, encoder, mesh, mp_policy)

        def wrap(path: nn.Module) -> nn.Module:
            # The context path owns no parameters of its own: it is the root that drives
            # lazy init and the backward's final synchronisation.
            fully_shard(path, mesh=mesh, mp_policy=mp_policy, reshard_after_forward=False)
            return path  # fully_shard converts the module in place (and returns it, typed FSDPModule)

    return ParallelPlan(
        strategy=strategy,
        wrap=wrap,
        compiled_blocks=compiled,
        activation_checkpointing=cfg.activation_checkpointing,
        fused_attention=fused_attention_layers([encoder, predictor]),
    )


# -------------------------------------------------------------- full state dicts (FSDP)


def is_sharded(module: nn.Module) -> bool:
    """True when some parameter of ``module`` is a DTensor (FSDP2-sharded)."""
    return any(hasattr(p, "placements") for p in module.parameters())


def _full_options(**kwargs: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kwargs)


def module_state_dict(module: nn.Module) -> dict[str, Any]:
    """``module.state_dict()``, gathered to full CPU tensors on rank 0 when sharded (a collective).

    Other ranks get ``{}`` under FSDP; every rank must call it.
    """
    if not is_sharded(module):
        return module.state_dict()
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(module, options=_full_options(cpu_offload=True))


def unsharded_copy(module: nn.Module, fresh: nn.Module) -> nn.Module:
    """Load ``module``'s gathered full state into ``fresh`` (same architecture) on rank 0.

    A collective under FSDP: every rank calls it; only rank 0's ``fresh`` holds the weights.
    """
    state = module_state_dict(module)
    if state:
        fresh.load_state_dict(state)
    return fresh


class _FullStateLoader:
    """Lets :func:`jepa_core.checkpoint.load_module_state` check a full state dict against a
    sharded module (DTensor shapes are the global shapes) and then load it shard by shard."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def state_dict(self) -> dict[str, Any]:
        return self.module.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> Any:
        from torch.distributed.checkpoint.state_dict import set_model_state_dict

        return set_model_state_dict(self.module, state_dict, options=_full_options(strict=strict))


def load_module_state(module: nn.Module, state_dict: dict[str, Any], *, what: str) -> None:
    """Strict, checked load of a full state dict into a plain or sharded module."""
    from jepa_core.checkpoint import load_module_state as load_checked

    load_checked(_FullStateLoader(module) if is_sharded(module) else module, state_dict, what=what)  # type: ignore[arg-type]


def _param_names(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[str]:
    """The name of every optimizer parameter in ``model``, in optimizer order (= state ids 0..n-1)."""
    names = {id(p): n for n, p in model.named_parameters()}
    return [names[id(p)] for g in optimizer.param_groups for p in g["params"]]


def optimizer_state_dict(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """``optimizer.state_dict()``; under FSDP the full state, in the same integer-keyed format.

    ``model`` holds every optimized parameter (the context path). A collective when sharded;
    other ranks than 0 get ``{}``.
    """
    if not is_sharded(model):
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    # the full state: {"state": {name: ...}, "param_groups": [{..., "params": [name, ...]}, ...]}
    full: dict[str, Any] = get_optimizer_state_dict(model, optimizer, options=_full_options(cpu_offload=True))
    if not full:
        return {}
    index = {name: i for i, name in enumerate(_param_names(model, optimizer))}
    groups = [{**g, "params": [index[n] for n in g["params"]]} for g in full["param_groups"]]
    return {"state": {index[n]: s for n, s in full["state"].items()}, "param_groups": groups}


def load_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Inverse of :func:`optimizer_state_dict` (every rank passes the full state)."""
    if not is_sharded(model):
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    names = _param_names(model, optimizer)
    groups = [{**g, "params": [names[i] for i in g["params"]]} for g in state["param_groups"]]
    full: dict[str, Any] = {"state": {names[int(i)]: s for i, s in state["state"].items()}, "param_groups": groups}
    set_optimizer_state_dict(model, optimizer, full, options=_full_options())


@contextlib.contextmanager
def gradient_sync(module: nn.Module, enabled: bool) -> Iterator[None]:
    """Reduce gradients across ranks in this backward only if ``enabled``.

    Gradient accumulation enables it for the last micro-batch only: DDP skips its all-reduce
    under ``no_sync()``, FSDP2 its reduce-scatter after ``set_requires_gradient_sync(False)``
    (it then keeps unsharded gradients until the synchronising backward). A module that is
    neither (one process) is left alone.

    >>> for i, mb in enumerate(micro_batches):                     # doctest: +SKIP
    ...     with gradient_sync(path, enabled=i == len(micro_batches) - 1):
    ...         loss(mb).backward()
    """
    set_sync = getattr(module, "set_requires_gradient_sync", None)  # FSDP2: a flag read during backward
    no_sync = getattr(module, "no_sync", None)  # DDP
    if set_sync is not None:
        set_sync(enabled)
        yield
    elif not enabled and no_sync is not None:
        with no_sync():
            yield
    else:
        yield


def total_norm(grads: Sequence[torch.Tensor]) -> torch.Tensor:
    """The global L2 norm of ``grads`` as a plain tensor (DTensor norms are materialised)."""
    norm = torch.nn.utils.get_total_norm(grads)
    return norm.full_tensor() if hasattr(norm, "full_tensor") else norm
