"""Process-group set-up from torchrun or SLURM environment variables, and model wrapping.

One code path from a single CPU process to many nodes: ``jepa train`` under ``torchrun``
(RANK/WORLD_SIZE/LOCAL_RANK) or ``srun`` (SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID) joins the
group; NCCL on GPUs, gloo on CPU.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

import attrs
import torch
import torch.distributed as dist

from jepa_core.errors import ConfigError


@attrs.frozen
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def detect(env: Mapping[str, str] = os.environ) -> DistInfo:
    """Rank layout from torchrun's or SLURM's variables; a single process otherwise."""
    if "RANK" in env and "WORLD_SIZE" in env:
        return DistInfo(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)))
    if "SLURM_PROCID" in env and int(env.get("SLURM_NTASKS", "1")) > 1:
        return DistInfo(int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]), int(env.get("SLURM_LOCALID", 0)))
    return DistInfo()


def select_device(preference: str, info: DistInfo, *, option: str = "train.device") -> torch.device:
    """``auto`` -> this rank's GPU if CUDA is available, else CPU; ``cpu``/``cuda``/``cuda:N``.
    A bad value is a :class:`ConfigError` naming ``option`` (the key or flag it came from).

    >>> select_device("cpu", DistInfo())
    device(type='cpu')
    """
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    if preference == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", preference)
    if match is None:
        raise ConfigError(f"{option} must be 'auto', 'cpu', 'cuda' or 'cuda:N', got '{preference}'.")
    if not torch.cuda.is_available():
        raise ConfigError(f"{option}='{preference}' but CUDA is not available here; use 'cpu' or 'auto'.")
    count = torch.cuda.device_count()
    if match.group(1) is None:
        return torch.device("cuda", info.local_rank % count)
    index = int(match.group(1))
    if index >= count:
        raise ConfigError(
            f"{option}='{preference}' but this machine has {count} CUDA device(s): "
            f"use 'cuda' or cuda:0 to cuda:{count - 1}."
        )
    return torch.device("cuda", index)


def init_distributed(info: DistInfo, device: torch.device) -> None:
    """Join the process group (idempotent); SLURM variables are mapped to torch's env:// init.

    >>> init_distributed(detect(), torch.device("cpu"))   # a no-op in a single process
    """
    if not info.enabled or dist.is_initialized():
        return
    addr = os.environ.get("MASTER_ADDR") or os.environ.get("SLURM_LAUNCH_NODE_IPADDR")
    if addr is None:
        raise ConfigError(
            f"rank {info.rank} of {info.world_size} was launched without MASTER_ADDR; use torchrun "
            "or export MASTER_ADDR and MASTER_PORT."
        )
    os.environ.setdefault("MASTER_ADDR", addr)
    os.environ.setdefault("MASTER_PORT", "29500")
    os.environ.setdefault("RANK", str(info.rank))
    os.environ.setdefault("WORLD_SIZE", str(info.world_size))
    os.environ.setdefault("LOCAL_RANK", str(info.local_rank))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend)
    # Tear the group down before the interpreter does: a gloo group still alive at exit can leave
    # a joinable thread behind, and the C++ runtime then aborts the process ("terminate called
    # without an active exception") although training finished.
    atexit.register(_destroy_at_exit)


def _destroy_at_exit() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def exit_process(code: int) -> NoReturn:
    """Tear the process group down (if any), flush the console and leave with ``code`` at once.

    Used at the end of a distributed process, once everything it writes is on disk: the hard
    exit (``os._exit``) skips the C++ runtime's static destructors, where a gloo rank can still
    abort ("terminate called without an active exception", about 1 in 30 to 60 two-process CPU
    runs) and so fail a finished job under torchrun, SLURM or ``torch.multiprocessing.spawn``.

    >>> exit_process(0)  # doctest: +SKIP
    """
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextlib.contextmanager
def worker_process_group(backend: str = "gloo", **init: Any) -> Iterator[None]:
    """The process group of a worker started by ``torch.multiprocessing.spawn``, for one block.

    An exception in the block tears the group down and propagates (spawn reports it with its
    traceback); a block that completes ends the process with :func:`exit_process` (code 0), so
    nothing after the ``with`` statement runs. Finish with a ``dist.barrier()`` in the block when
    a rank could otherwise leave while another still communicates.

    >>> def worker(rank, out):  # doctest: +SKIP
    ...     with worker_process_group(init_method=f"file://{out}/store", rank=rank, world_size=2):
    ...         torch.save(work(rank), f"{out}/rank{rank}.pt")
    ...         dist.barrier()
    """
    dist.init_process_group(backend, **init)
    try:
        yield
    except BaseException:
        dist.destroy_process_group()
        raise
    exit_process(0)


def wrap_ddp(module: torch.nn.Module, device: torch.device, *, static_graph: bool = True) -> torch.nn.Module:
    """DistributedDataParallel over the trainable context path (the target encoder is never wrapped).

    Parameters with ``requires_grad=False`` get no gradient bucket (DDP skips them).
    ``static_graph=True`` (the same parameters take part in every step, as in a JEPA step)
    lets DDP skip the per-step search for unused parameters and supports activation
    checkpointing, but it cannot run under ``no_sync`` (gradient accumulation): pass False
    there. Gradients are views into the buckets (no extra copy).

    >>> path = wrap_ddp(ContextPath(encoder, predictor), torch.device("cuda", 0))  # doctest: +SKIP
    """
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    return DDP(module, device_ids=ids, static_graph=static_graph, gradient_as_bucket_view=True)


def rank_seed(seed: int, info: DistInfo) -> int:
    """A per-rank seed for the model-side RNG (dropout, drop-path), equal to ``seed`` on rank 0.

    Model init uses ``seed`` on every rank (all replicas must start identical); what runs
    after init must differ per rank, or every process would draw the same drop-path masks.
    Data-side randomness (augmentation, masks) is keyed by sample and batch, not by rank.

    >>> rank_seed(7, DistInfo(0, 2)), rank_seed(7, DistInfo(1, 2)) != 7
    (7, True)
    """
    return seed if info.rank == 0 else (seed * 1_000_003 + info.rank) % (2**63 - 1)


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
