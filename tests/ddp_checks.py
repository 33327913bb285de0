"""What the torchrun scripts of the tests check on every process."""

import torch
import torch.distributed as dist


def first_difference(state_dict: dict[str, torch.Tensor]) -> str | None:
    """The name of the first tensor of `state_dict` that differs from rank 0's, or None when
    every one is identical (a collective: every process must call it with the same names)."""
    for name, tensor in state_dict.items():
        mine = tensor.float().clone()
        rank0 = mine.clone()
        dist.broadcast(rank0, src=0)
        if not torch.equal(mine, rank0):
            return name
    return None
