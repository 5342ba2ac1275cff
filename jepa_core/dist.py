"""Process-group set-up from torchrun or SLURM environment variables, and model wrapping.

One code path from a single CPU process to many nodes: ``jepa train`` under ``torchrun``
(RANK/WORLD_SIZE/LOCAL_RANK) or ``srun`` (SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID) joins the
group; NCCL on GPUs, gloo on CPU.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

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


def select_device(preference: str, info: DistInfo) -> torch.device:
    """``auto`` -> this rank's GPU if CUDA is available, else CPU; ``cpu``/``cuda``/``cuda:N``."""
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    if preference.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device='{preference}' but CUDA is not available here; use 'cpu' or 'auto'.")
        if preference == "cuda":
            return torch.device("cuda", info.local_rank % torch.cuda.device_count())
        return torch.device(preference)
    if preference != "cpu":
        raise ConfigError(f"train.device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got '{preference}'.")
    return torch.device("cpu")


def init_distributed(info: DistInfo, device: torch.device) -> None:
    """Join the process group (idempotent); SLURM variables are mapped to torch's env:// init."""
    if not info.enabled or dist.is_initialized():
        return
    os.environ.setdefault("RANK", str(info.rank))
    os.environ.setdefault("WORLD_SIZE", str(info.world_size))
    os.environ.setdefault("LOCAL_RANK", str(info.local_rank))
    if "MASTER_ADDR" not in os.environ:
        addr = os.environ.get("SLURM_LAUNCH_NODE_IPADDR")
        if addr is None:
            raise ConfigError("distributed launch without MASTER_ADDR; use torchrun or export MASTER_ADDR/MASTER_PORT.")
        os.environ["MASTER_ADDR"] = addr
    os.environ.setdefault("MASTER_PORT", "29500")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend)


def wrap_ddp(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel over the trainable context path (the target encoder is never wrapped)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    return DDP(module, device_ids=ids, static_graph=True)


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
