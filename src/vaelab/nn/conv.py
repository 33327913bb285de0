"""Convolutional encoder and decoder with residual blocks (the VQ-VAE paper's design).

Encoder: one 4x4 stride-2 convolution per entry of `channels` (each halves H and W),
then `res_blocks` residual blocks. Decoder: the mirror, with 4x4 stride-2 transposed
convolutions. Works for any channel count and any side divisible by 2**len(channels)
(28 with two stages, 32 or 64 with up to five).
"""

from __future__ import annotations

from torch import Tensor, nn

from vaelab.errors import ConfigError


class ResidualBlock(nn.Module):
    """x + conv1x1(relu(conv3x3(relu(x)))): keeps shape [B, ch, H, W]."""

    def __init__(self, channels: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or channels // 2 or 1
        self.block = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


def bottom_shape(data_shape: tuple[int, int, int], channels: list[int]) -> tuple[int, int, int]:
    """Shape of the encoder's last feature map, (channels[-1], H / 2**n, W / 2**n)."""
    _, h, w = data_shape
    factor = 2 ** len(channels)
    if not channels or h % factor or w % factor:
        raise ConfigError(
            f"conv backbone: image {h}x{w} is not divisible by 2**{len(channels)} "
            f"(one halving per entry of channels={channels}); use fewer stages"
        )
    return channels[-1], h // factor, w // factor


class ConvEncoder(nn.Module):
    """x [B, C, H, W] -> feature map [B, channels[-1], H/2^n, W/2^n]."""

    def __init__(self, data_shape: tuple[int, int, int], channels: list[int], res_blocks: int = 2):
        super().__init__()
        self.out_shape = bottom_shape(data_shape, channels)
        layers: list[nn.Module] = []
        for c_in, c_out in zip([data_shape[0], *channels[:-1]], channels):
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU()]
        layers.pop()  # the residual stack starts (and the block ends) with its own ReLU
        layers += [ResidualBlock(channels[-1]) for _ in range(res_blocks)]
        layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """Feature map [B, channels[-1], h, w] -> decoder output [B, C, H, W] (linear last layer)."""

    def __init__(self, data_shape: tuple[int, int, int], channels: list[int], res_blocks: int = 2):
        super().__init__()
        self.in_shape = bottom_shape(data_shape, channels)
        top = channels[-1]
        layers: list[nn.Module] = [nn.Conv2d(top, top, 3, padding=1)]
        layers += [ResidualBlock(top) for _ in range(res_blocks)]
        ups = [*reversed(channels), data_shape[0]]
        for c_in, c_out in zip(ups[:-1], ups[1:]):
            layers += [nn.ReLU(), nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)
