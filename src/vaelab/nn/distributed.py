"""Data-parallel training with torch.distributed: who this process is, and the few
collectives vaelab needs. Outside a distributed launch every function is a no-op for one
process (rank 0 of 1), so single-process code calls them unconditionally.

    torchrun --nproc_per_node 2 -m vaelab train CONFIG ...

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous; `start` joins the group
(NCCL on CUDA, gloo on the CPU). Collectives run on the backend's device.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist


def start(device_type: str) -> None:
    """Join the process group torchrun describes (once); nothing without WORLD_SIZE > 1."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if device_type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # NCCL works on the current GPU
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if active() else 0


def is_main() -> bool:
    """Rank 0: the one process that writes the run folder."""
    return rank() == 0


def all_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum `tensor` over the processes, in place (and returned)."""
    if active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_of(*flags: bool) -> tuple[bool, ...]:
    """Each flag true on any process: one collective for them all (as given in one process),
    so that the processes take a decision together."""
    if not active():
        return flags
    agreed = torch.tensor([float(f) for f in flags], device=_backend_device())
    dist.all_reduce(agreed, op=dist.ReduceOp.MAX)
    return tuple(bool(f) for f in agreed.tolist())


def gathered(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every process's `tensor` (the same shape and dtype on each), in rank order, on the CPU."""
    if not active():
        return [tensor.cpu()]
    parts = [torch.empty_like(tensor, device=_backend_device()) for _ in range(world_size())]
    dist.all_gather(parts, tensor.to(_backend_device()))
    return [p.cpu() for p in parts]


def _backend_device() -> torch.device:
    """Where the backend's collectives run: this process's GPU for NCCL, the CPU for gloo."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def from_main(tensor: torch.Tensor) -> torch.Tensor:
    """Rank 0's `tensor` on every process, in place (and returned)."""
    if active():
        dist.broadcast(tensor, src=0)
    return tensor


def barrier() -> None:
    if active():
        dist.barrier()


def finish(status: int | None) -> None:
    """Leave the process group and end a distributed process with `status`; with None (an
    exception on its way out) leave the group only. Nothing outside a distributed launch.
    After success, wait for the others first.

    The process ends by os._exit, after flushing its streams: letting the interpreter tear
    down gloo's threads aborted about one finished run in twelve on a loaded machine
    ("terminate called without an active exception", SIGABRT), destroy_process_group or
    not. Everything vaelab writes is closed by then.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    if status == 0:
        dist.barrier()
    dist.destroy_process_group()
    if status is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
