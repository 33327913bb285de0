"""Finite scalar quantization (Mentzer et al., 2023): no codebook to learn, so none to collapse.

z_e (D numbers per position) is projected to d = len(levels) numbers (no projection
when the layer is built without `dim`: its inputs are then the d numbers themselves);
number i is squashed into a bounded interval and rounded to one of L_i integer levels:

    zhat_i = round(f_i(z_i)),  f_i(z) = h_i tanh(z + s_i) - o_i          (straight-through round)
    h_i = (L_i - 1)(1 + eps) / 2,  o_i = 1/2 for even L_i else 0,  s_i = atanh(o_i / h_i)

so zhat_i takes the L_i integers -floor(L_i/2) .. ceil(L_i/2) - 1 (odd: symmetric around
0; even: one more below). Divided by floor(L_i/2) they lie in [-1, 1] and are projected
back to D (when projected in). The implicit codebook is the grid of all prod_i L_i
points; a code is the mixed-radix number of its digits zhat_i + floor(L_i/2). Every grid
point is reachable by construction, and there is no codebook or commitment loss (the
bound replaces it).
Mentzer et al. recommend levels [8, 5, 5, 5] for 2^10 codes, [7, 5, 5, 5, 5] for 2^12.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from vaelab.config import each_at_least, one_of
from vaelab.errors import ConfigError
from vaelab.models.quantizers.base import Quantizer, QuantizerConfig, QuantizerOutput
from vaelab.models.quantizers.channels import ChannelLinear
from vaelab.models.quantizers.estimators import straight_through
from vaelab.nn import distributed

EPS = 1e-3  # the bound reaches a little past the outer levels, so they are reached at finite z (and L = 2 works)
MAX_CODES = 2**24  # codes are summed in float32 (exact below this) and counted one by one


@dataclass
class FiniteScalarQuantizerConfig(QuantizerConfig):
    """model.quantizer of name fsq: FiniteScalarQuantizer's levels (below); the model's
    num_codes must be their product, and its code_dim is projected to len(levels) and back."""

    name: str = one_of("fsq", default="fsq")
    levels: list[int] = each_at_least(2, default=[8, 5, 5, 5])  # L_i: 1000 codes

    def codebook_size(self) -> int:
        return math.prod(self.levels)

    def check_across(self, where: str, root: Any) -> None:
        if math.prod(self.levels) > MAX_CODES:
            raise ConfigError(f"{where}levels {self.levels} make {math.prod(self.levels)} codes; at most {MAX_CODES}")


class FiniteScalarQuantizer(Quantizer):
    """Bounded scalars rounded to a fixed grid: K = prod(levels) codes, none of them learned.

        FiniteScalarQuantizer(levels=[8, 6, 5])(z)            z [B, ..., 3], 240 codes
        FiniteScalarQuantizer(levels=[8, 6, 5], dim=64)(z)    z [B, ..., 64], projected 64 -> 3 -> 64

    Args:
        levels: L_i, the number of values of each of the d = len(levels) scalar codes (each >= 2).
        dim: D, the input's channels, projected to d and back by learned linear maps (even
            when D == d); None: no projection, the input has d channels.
        channels_first: inputs [B, D, ...] instead of [B, ..., D] (base.py).
    """

    def __init__(self, levels: list[int], dim: int | None = None, *, channels_first: bool = False):
        levels = list(levels)
        if not levels or min(levels) < 2 or (dim is not None and dim < 1):
            raise ConfigError(f"FSQ needs levels of at least 2 values each and dim >= 1, "
                              f"got levels={levels}, dim={dim}")
        if math.prod(levels) > MAX_CODES:
            raise ConfigError(f"FSQ levels={levels} make {math.prod(levels)} codes; at most {MAX_CODES} (2 ** 24): "
                              f"the layer counts each code's use")
        super().__init__(math.prod(levels), len(levels) if dim is None else dim, channels_first)
        self.levels = levels
        self.projected = projected = dim is not None
        self.project_in = ChannelLinear(dim, len(levels)) if projected else nn.Identity()
        self.project_out = ChannelLinear(len(levels), dim) if projected else nn.Identity()
        shape = (1, len(levels))  # broadcasts along the channels of [B, d, ...] after view
        lv = torch.tensor(levels, dtype=torch.float32)
        half_range = (lv - 1) * (1 + EPS) / 2
        offset = (lv % 2 == 0).float() * 0.5
        self.register_buffer("half_range", half_range.view(shape), persistent=False)
        self.register_buffer("offset", offset.view(shape), persistent=False)
        self.register_buffer("shift", torch.atanh(offset / half_range).view(shape), persistent=False)
        self.register_buffer("half_width", (lv // 2).view(shape), persistent=False)
        basis = torch.cumprod(torch.tensor([1] + levels[:-1]), 0)  # mixed-radix place values
        self.register_buffer("basis", basis.view(shape), persistent=False)

    def settings(self) -> dict:
        return {"levels": list(self.levels), "dim": self.dim if self.projected else None,
                "channels_first": self.channels_first}

    def _per_channel(self, t: Tensor, like: Tensor) -> Tensor:
        """A [1, d] constant shaped to broadcast over channels-first `like` [B, d, ...]."""
        return t.view(1, -1, *([1] * (like.dim() - 2)))

    def bound(self, z: Tensor) -> Tensor:
        """f(z): each channel of z [B, d, ...] squashed into its levels' interval."""
        h, o, s = (self._per_channel(t, z) for t in (self.half_range, self.offset, self.shift))
        return h * torch.tanh(z + s) - o

    def quantize(self, z_e: Tensor) -> QuantizerOutput:
        bounded = self.bound(self.project_in(z_e))  # (B, d, ...)
        rounded = bounded.round().detach()  # integers
        digits = straight_through(bounded, rounded)  # their values, with bounded's gradients
        half_width = self._per_channel(self.half_width, digits)
        codes = self._codes_of(rounded + half_width)  # (B, ...)
        counts = self._count(codes)
        if self.training:  # data-parallel: usage counts every process's codes, like the codebook quantizers
            counts = distributed.all_sum(counts)
        return QuantizerOutput(self.project_out(digits / half_width), codes, {}, counts)

    def _codes_of(self, digits: Tensor) -> Tensor:
        """Digits in 0..L_i-1, [B, d, ...] float holding integers -> mixed-radix code int64 [B, ...].
        The sum is exact in float32: the codes (prod L_i of them) stay far below 2 ** 24."""
        return (digits * self._per_channel(self.basis, digits).float()).sum(1).long()

    def dequantize(self, codes: Tensor) -> Tensor:
        """codes int64 [B, ...] -> their vectors [B, D, ...]."""
        digits = torch.stack([(codes // int(b)) % lv for b, lv in zip(self.basis.flatten(), self.levels)], dim=1)  # (B, d, ...)
        half_width = self._per_channel(self.half_width, digits)
        return self.project_out((digits.float() - half_width) / half_width)
