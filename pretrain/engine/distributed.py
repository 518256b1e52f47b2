"""Process-group setup shared by the torch (DDP) and DeepSpeed paths.

A run is launched either as one plain process, or by torchrun / the `deepspeed` launcher, which set RANK,
LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT. Nothing here assumes one machine: ranks only talk
through torch.distributed (gloo on CPU, nccl on GPUs), and the run directory must be on a shared file system.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistEnv:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False  # we created the process group, so we destroy it at the end

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if dist.is_available() and dist.is_initialized():
            dist.barrier()

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """Average a scalar tensor over ranks (every rank gets the same result)."""
        if self.distributed:
            value = value.clone()
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
            value /= self.world_size
        return value

    def broadcast_object(self, obj):
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def all_true(self, flag: bool) -> bool:
        if not self.distributed:
            return flag
        t = torch.tensor([0 if flag else 1], dtype=torch.int64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return int(t.item()) == 0

    def close(self) -> None:
        if self.initialized_here and dist.is_initialized():
            dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_rank() -> int:
    """This process's global rank as the launcher (torchrun, deepspeed) set it; 0 when not launched so."""
    return int(os.environ.get("RANK", "0"))


def setup(use_deepspeed: bool) -> DistEnv:
    """Read the launcher's environment and start the process group when there is more than one rank.

    DeepSpeed always wants a process group, even for one process: then we fill in a single-rank env
    (otherwise it goes looking for MPI)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = launch_rank()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    env = DistEnv(rank=rank, local_rank=local_rank, world_size=world, device=device)
    if dist.is_initialized():
        return env
    if use_deepspeed:
        for key, value in (
            ("RANK", "0"),
            ("LOCAL_RANK", "0"),
            ("WORLD_SIZE", "1"),
            ("MASTER_ADDR", "127.0.0.1"),
        ):
            os.environ.setdefault(key, value)
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
        import deepspeed

        deepspeed.init_distributed(dist_backend="nccl" if device.type == "cuda" else "gloo", verbose=False)
        env.initialized_here = True
    elif world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        env.initialized_here = True
    return env
