"""Fully connected encoder and decoder: images are flattened to vectors."""

from __future__ import annotations

import math

from torch import Tensor, nn


def _layers(sizes: list[int]) -> list[nn.Module]:
    """Linear + ReLU for each consecutive pair of `sizes`."""
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return layers


class MLPEncoder(nn.Module):
    """x [B, C, H, W] -> features [B, hidden[-1]] (ReLU after every layer)."""

    def __init__(self, data_shape: tuple[int, int, int], hidden: list[int]):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), *_layers([math.prod(data_shape), *hidden]))
        self.out_features = hidden[-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class MLPDecoder(nn.Module):
    """z [B, in_features] -> decoder output [B, C, H, W]; mirrors the encoder's widths.

    The last layer is linear: the likelihood decides what the output means (logits or means).
    """

    def __init__(self, in_features: int, data_shape: tuple[int, int, int], hidden: list[int]):
        super().__init__()
        widths = [in_features, *reversed(hidden)]
        self.net = nn.Sequential(
            *_layers(widths),
            nn.Linear(widths[-1], math.prod(data_shape)),
            nn.Unflatten(1, data_shape),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)
