"""A linear map along the channels of a channels-first tensor of any rank."""

from __future__ import annotations

from torch import Tensor, nn


class ChannelLinear(nn.Linear):
    """nn.Linear on dimension 1: [B, C_in, ...] -> [B, C_out, ...] (a 1x1 convolution for
    images, the same for sequences [B, C, L] and volumes [B, C, T, H, W])."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)  # (B, ..., C) in the middle
