"""The contract every quantizer of the family keeps.

A quantizer maps encoder outputs z_e [B, D, ...] (channels first, any number of
positions) to discrete codes and their vectors; it knows nothing of images. Each one
returns a `QuantizerOutput` and counts the codes it hands out, so that usage and
perplexity are reported the same way for all of them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class QuantizerOutput:
    """What a quantizer returns for z_e [B, D, ...].

    z_q:    [B, D, ...] quantized vectors, with (straight-through) gradients to z_e
    codes:  int64 [B, ...] the code of each position
    losses: named scalars the model adds to its loss (summed over positions and
            dimensions, averaged over the batch, like every loss in vaelab)
    counts: [K] how many positions of the batch took each code (torch.bincount of codes),
            counted once and shared by every update that needs them
    """

    z_q: Tensor
    codes: Tensor
    losses: dict[str, Tensor]
    counts: Tensor


class Quantizer(nn.Module, ABC):
    """Base of the family: `quantize` does the work; `forward` also gathers usage.

    usage_stats() after a pass: the fraction of the K codes used since reset_usage()
    and the perplexity of their frequencies (see `usage_stats` below).
    """

    codes_per_position = 1  # the residual quantizer's codes are S per position: [B, S, ...]

    def __init__(self, num_codes: int, code_dim: int):
        super().__init__()
        self.num_codes, self.code_dim = num_codes, code_dim
        self.register_buffer("usage_counts", torch.zeros(num_codes), persistent=False)

    @abstractmethod
    def quantize(self, z_e: Tensor) -> QuantizerOutput:
        """z_e [B, D, ...] -> QuantizerOutput (and, in training mode, any codebook update)."""

    @abstractmethod
    def lookup(self, codes: Tensor) -> Tensor:
        """codes int64 [B, ...] -> their vectors [B, D, ...] (channels first)."""

    def forward(self, z_e: Tensor) -> QuantizerOutput:
        # In float32 even inside autocast: distances, the EMA statistics and the losses
        # lose too much in half precision (a codeword moves by decay * 1e-2 of a step).
        with torch.autocast(z_e.device.type, enabled=False):
            out = self.quantize(z_e.float())
        with torch.no_grad():
            self.usage_counts += out.counts
        return out

    def count_codes(self, codes: Tensor) -> Tensor:
        """How many positions of `codes` (as `quantize` returns them) took each of the
        num_codes codewords: int64 [num_codes]."""
        return torch.bincount(codes.flatten(), minlength=self.num_codes)

    def reset_usage(self) -> None:
        self.usage_counts.zero_()

    def usage_stats(self) -> dict[str, float]:
        """{usage, perplexity} of the codes counted since reset_usage ({} before any)."""
        return usage_stats(self.usage_counts)


def usage_stats(counts: Tensor) -> dict[str, float]:
    """From how often each of K codes was used, counts [K]: usage = the fraction of codes
    used at least once; perplexity = exp(H(p)), p = counts / sum (K when every code is used
    equally, 1 when one code takes everything). {} when nothing was counted."""
    total = counts.sum()
    if total == 0:
        return {}
    p = counts / total
    entropy = -(p[p > 0] * p[p > 0].log()).sum()
    return {"usage": float((counts > 0).float().mean()), "perplexity": math.exp(float(entropy))}
