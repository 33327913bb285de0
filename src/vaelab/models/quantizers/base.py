"""The contract every quantizer of the family keeps, and the one place inputs change layout.

A quantizer is a layer: it maps vectors of size D at any number of positions to discrete
codes and their vectors, and knows nothing of images. One rule for the layout, set by
the constructor's `channels_first`:

    channels_first=False (default)   [B, ..., D]   sequences [B, N, D], grids [B, H, W, D]
                                                   (like nn.Linear, transformers, vector-quantize-pytorch)
    channels_first=True              [B, D, ...]   feature maps [B, D, H, W], volumes [B, D, T, H, W]

z_q comes back in the input's layout and dtype (float32 inside torch.autocast, like
autocast's own float32 ops), codes as [B, ...] (one per position), and
a residual quantizer's stage axis sits where the channels sit: [B, ..., S] or [B, S, ...].
`forward`, `lookup` and `count_codes` convert; subclasses implement `quantize` and
`dequantize` once, channels first, in float32. Each returns a `QuantizerOutput` and counts
the codes it hands out, so that usage and perplexity are reported the same way for all.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import ClassVar

import torch
from torch import Tensor, nn

from vaelab.config import Section
from vaelab.errors import ConfigError


@dataclass
class QuantizerOutput:
    """What a quantizer returns for z_e [B, ..., D] (or [B, D, ...] channels first).

    z_q:    quantized vectors in z_e's layout and dtype (float32 inside autocast), with
            (straight-through) gradients to z_e
    codes:  int64 [B, ...] the code of each position (residual: [B, ..., S] or [B, S, ...])
    losses: named scalars the model adds to its loss (summed over positions and
            dimensions, averaged over the batch, like every loss in vaelab)
    counts: [K] how many positions of the batch took each code (torch.bincount of codes),
            counted once and shared by every update that needs them
    """

    z_q: Tensor
    codes: Tensor
    losses: dict[str, Tensor]
    counts: Tensor

    @property
    def loss(self) -> Tensor:
        """The sum of `losses`, what a model adds to its own loss (a zero scalar when there are none)."""
        return sum(self.losses.values(), torch.zeros((), device=self.z_q.device))


@dataclass
class QuantizerConfig(Section):
    """The options of one quantizer layer as a config section, `model.quantizer` of a VQ-VAE:
    `name` picks the quantizer (as `model.name` picks the model), and every other field is
    an argument of its constructor, under the constructor's own name, with its default and
    the values it accepts. The model supplies the rest: dim (model.code_dim), codebook_size
    (model.num_codes) and channels_first=True. Each quantizer's section sits beside its
    class, and QUANTIZER_CONFIGS (__init__.py) names them.

        model:
          quantizer: {name: fsq, levels: [8, 6, 5]}
    """

    key_prefix: ClassVar[str] = "model.quantizer."

    name: str = ""  # picks the quantizer; each section accepts its own name only

    def arguments(self) -> dict:
        """The constructor's keyword arguments this section holds: every field but `name`."""
        return {f.name: vars(self)[f.name] for f in fields(self) if f.name != "name"}

    def codebook_size(self) -> int | None:
        """K when the options make the codebook (fsq: the product of its levels; the layer
        then takes no codebook_size), else None: the model's num_codes sets it."""
        return None


class Quantizer(nn.Module, ABC):
    """Base of the family: `forward(z)` quantizes, `lookup(codes)` goes back to vectors.

    usage_stats() after a pass: the fraction of the K codes used since reset_usage()
    and the perplexity of their frequencies (see `usage_stats` below).

    Args:
        num_codes: K, the codewords counted for usage (all S K of a residual quantizer's).
        dim: D, the size of the input's channel axis.
        channels_first: inputs are [B, D, ...] instead of [B, ..., D] (see the module doc).
    """

    codes_per_position = 1  # the residual quantizer's codes are S per position
    stacked_codes = False  # whether codes carry a stage axis where the channels sit (residual)

    def __init__(self, num_codes: int, dim: int, channels_first: bool = False):
        super().__init__()
        self.num_codes, self.dim, self.channels_first = num_codes, dim, channels_first
        self.register_buffer("usage_counts", torch.zeros(num_codes), persistent=False)

    @abstractmethod
    def quantize(self, z_e: Tensor) -> QuantizerOutput:
        """z_e float32 [B, D, ...] -> QuantizerOutput, channels first (and, in training mode,
        any codebook update)."""

    @abstractmethod
    def dequantize(self, codes: Tensor) -> Tensor:
        """codes int64 [B, ...] (residual: [B, S', ...]) -> their vectors [B, D, ...]."""

    def forward(self, z: Tensor) -> QuantizerOutput:
        z_e = self._channels_to_dim1(z)  # (B, D, ...)
        # Inside autocast z_q stays float32, as autocast's own float32 ops' outputs do: the
        # region casts it where an op wants less, and gradients from several uses of z_q
        # add up in float32. Outside autocast it takes z's dtype.
        dtype = torch.float32 if torch.is_autocast_enabled(z.device.type) else z.dtype
        # In float32 even inside autocast: distances, the EMA statistics and the losses
        # lose too much in half precision (a codeword moves by decay * 1e-2 of a step).
        with torch.autocast(z_e.device.type, enabled=False):
            out = self.quantize(z_e.float())
        with torch.no_grad():
            self.usage_counts += out.counts
        z_q = self._dim1_to_layout(out.z_q).to(dtype)
        return QuantizerOutput(z_q, self._codes_to_layout(out.codes), out.losses, out.counts)

    def lookup(self, codes: Tensor) -> Tensor:
        """codes int64, as `forward` returns them -> their vectors, in the layer's layout
        ([B, ..., D] or [B, D, ...]). A residual quantizer's take any prefix of its stages."""
        return self._dim1_to_layout(self.dequantize(self._codes_to_dim1(codes)))

    def count_codes(self, codes: Tensor) -> Tensor:
        """How many positions of `codes` (as `forward` returns them) took each of the
        num_codes codewords: int64 [num_codes]."""
        return self._count(self._codes_to_dim1(codes))

    def _count(self, codes: Tensor) -> Tensor:
        """count_codes for codes as `quantize` returns them (channels first)."""
        return torch.bincount(codes.flatten(), minlength=self.num_codes)

    def _channels_to_dim1(self, z: Tensor) -> Tensor:
        """z in the layer's layout -> [B, D, ...], after checking that its channel axis is D."""
        axis = 1 if self.channels_first else -1
        if z.dim() < 2 or z.shape[axis] != self.dim:
            where, other = ("dimension 1", "channels_first=False for [B, ..., D]") if self.channels_first \
                else ("the last dimension", "channels_first=True for [B, D, ...]")
            raise ConfigError(f"{type(self).__name__} expected {where} to be dim={self.dim}, got {list(z.shape)}; "
                              f"pass {other} inputs")
        return z if self.channels_first else z.movedim(-1, 1)

    def _dim1_to_layout(self, t: Tensor) -> Tensor:
        """[B, D, ...] -> the layer's layout."""
        return t if self.channels_first else t.movedim(1, -1)

    def _codes_to_layout(self, codes: Tensor) -> Tensor:
        """Codes as `quantize` returns them -> as `forward` does (only a stage axis moves)."""
        return self._dim1_to_layout(codes) if self.stacked_codes else codes

    def _codes_to_dim1(self, codes: Tensor) -> Tensor:
        """Codes as `forward` returns them -> as `quantize` does."""
        return codes.movedim(-1, 1) if self.stacked_codes and not self.channels_first else codes

    def settings(self) -> dict:
        """The constructor's arguments this layer was built with: type(self)(**settings())
        builds it again (quantizer_config, in __init__.py, writes them as a VQ-VAE config's
        keys). Each quantizer of the family says its own."""
        raise NotImplementedError(f"{type(self).__name__} does not say the arguments it was built with")

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
