"""Process-group set-up for multi-process training, from our flags or torchrun's environment.

`multiproc.py` passes `--rank i --world-size N`; torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT instead, and those take precedence when present. nccl is used on GPU and gloo on CPU.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from common.elastic import join_process_group


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_ranks(args: argparse.Namespace) -> tuple[int, int, int]:
    """(rank, world_size, local_rank): torchrun's environment wins over --rank/--world-size."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
    else:
        rank, world = args.rank, args.world_size
        local = int(os.environ.get("LOCAL_RANK", rank))
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"--rank {rank} must lie in [0, --world-size {world})")
    return rank, world, local


def init_distributed(args: argparse.Namespace) -> DistInfo:
    """Pick the device and, for world size > 1, join the process group (common/elastic.py: a store prefix
    per torchrun restart, Gloo connection retries, waits bounded by --dist-timeout)."""
    rank, world, local = resolve_ranks(args)
    use_cuda = torch.cuda.is_available() and not getattr(args, "cpu", False)
    if use_cuda:
        device = torch.device("cuda", local % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        backend = args.dist_backend or ("nccl" if use_cuda else "gloo")
        if backend == "nccl" and not use_cuda:
            raise ValueError("--dist-backend nccl needs CUDA; use gloo on CPU")
        join_process_group(args, backend, rank, world, getattr(args, "dist_timeout", 60.0))
    return DistInfo(rank, world, local, device)


def reduce_sum(value: torch.Tensor | float, info: DistInfo) -> float:
    """Sum a number over all ranks (the number itself on a single process)."""
    if not info.distributed:
        return float(value)
    tensor = torch.as_tensor(value, dtype=torch.float64, device=info.device).clone()
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return float(tensor)


def reduce_mean(value: torch.Tensor | float, info: DistInfo) -> float:
    """Average a number over all ranks."""
    return reduce_sum(value, info) / info.world_size


def gather_objects(obj, info: DistInfo) -> list:
    """Every rank's `obj`, in rank order (a one-element list on a single process)."""
    if not info.distributed:
        return [obj]
    out = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Rank 0's parameters and buffers to every rank (what DDP does when it wraps a model; a model that
    runs its own training step is not wrapped)."""
    if not info.distributed:
        return
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=0)


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op on a single process)."""
    if info.distributed:
        dist.barrier()


def cleanup() -> None:
    """Leave the process group if one was joined."""
    if dist.is_initialized():
        dist.destroy_process_group()
