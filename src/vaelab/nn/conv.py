"""Convolutional encoder and decoder with residual blocks (the VQ-VAE paper's design).

Encoder: one stride-2 convolution per entry of `channels`, each halving H and W (4x4
kernels on even sides; 3x3 on odd ones, which rounds up: 7 -> 4), then `res_blocks`
residual blocks. Decoder: the mirror, with stride-2 transposed convolutions that
restore the exact sizes (4 -> 7 -> 14 -> 28). Any channel count and any image side work:
28x28 gives 7x7 after two stages and 4x4 after three.
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


def min_side(stages: int) -> int:
    """The smallest image side that `stages` stride-2 stages halve with every stage taking a
    side of at least 2 pixels: 2 ** (stages - 1) + 1 (1 with no stage)."""
    return 2 ** (stages - 1) + 1 if stages else 1


def check_side(side: int, stages: int, side_key: str = "data.image_size", stages_key: str = "model.channels") -> None:
    """ConfigError, naming both keys, when `stages` stride-2 stages cannot halve a `side`-pixel side."""
    need = min_side(stages)
    if side < need:
        raise ConfigError(f"{side_key} must be >= {need} for the {stages} stride-2 stages of {stages_key} "
                          f"(a {side}-pixel side cannot be halved {stages} times), got {side}")


def stage_sizes(side: int, stages: int) -> list[int]:
    """Sides before each halving and after the last: 28, 2 stages -> [28, 14, 7]."""
    check_side(side, stages)
    sizes = [side]
    for _ in range(stages):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def bottom_shape(data_shape: tuple[int, int, int], channels: list[int]) -> tuple[int, int, int]:
    """Shape of the encoder's last feature map, (channels[-1], h, w)."""
    if not channels:
        raise ConfigError("conv backbone needs at least one stage (model.channels)")
    _, h, w = data_shape
    return channels[-1], stage_sizes(h, len(channels))[-1], stage_sizes(w, len(channels))[-1]


def _kernel(side: int) -> int:
    """4x4 halves an even side exactly; 3x3 takes an odd side n to (n + 1) / 2 (padding 1)."""
    return 4 if side % 2 == 0 else 3


class ConvEncoder(nn.Module):
    """x [B, C, H, W] -> feature map [B, channels[-1], h, w]."""

    def __init__(self, data_shape: tuple[int, int, int], channels: list[int], res_blocks: int = 2):
        super().__init__()
        self.out_shape = bottom_shape(data_shape, channels)
        sides = stage_sizes(data_shape[1], len(channels))  # square kernels: H and W halve alike
        layers: list[nn.Module] = []
        for c_in, c_out, side in zip([data_shape[0], *channels[:-1]], channels, sides):
            layers += [nn.Conv2d(c_in, c_out, _kernel(side), stride=2, padding=1), nn.ReLU()]
        layers.pop()  # the residual stack starts (and the block ends) with its own ReLU
        layers += [ResidualBlock(channels[-1]) for _ in range(res_blocks)]
        layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """Feature map [B, in_channels, h, w] -> decoder output [B, C, H, W] (linear last layer)."""

    def __init__(self, data_shape: tuple[int, int, int], channels: list[int], res_blocks: int = 2, in_channels: int | None = None):
        super().__init__()
        self.in_shape = bottom_shape(data_shape, channels)
        top = channels[-1]
        sides = stage_sizes(data_shape[1], len(channels))
        layers: list[nn.Module] = [nn.Conv2d(in_channels or top, top, 3, padding=1)]
        layers += [ResidualBlock(top) for _ in range(res_blocks)]
        ups = [*reversed(channels), data_shape[0]]
        for c_in, c_out, side in zip(ups[:-1], ups[1:], reversed(sides[:-1])):
            layers += [nn.ReLU(), nn.ConvTranspose2d(c_in, c_out, _kernel(side), stride=2, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)
