"""Pick an encoder/decoder pair for images from a config: the part every model shares."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

from torch import nn

from vaelab.errors import ConfigError
from vaelab.nn.conv import ConvDecoder, ConvEncoder
from vaelab.nn.mlp import MLPDecoder, MLPEncoder


@dataclass
class BackboneConfig:
    backbone: str = "mlp"  # mlp | conv
    hidden: list[int] = field(default_factory=lambda: [512])  # mlp: encoder widths (decoder mirrors)
    channels: list[int] = field(default_factory=lambda: [32, 64])  # conv: channels per stride-2 stage
    res_blocks: int = 2  # conv: residual blocks at the bottom of encoder and decoder


class Backbone(NamedTuple):
    encoder: nn.Module  # x [B, C, H, W] -> features [B, features]
    features: int
    decoder: nn.Module  # z [B, decoder_in] -> output [B, C, H, W]


def build_backbone(cfg: BackboneConfig, data_shape: tuple[int, int, int], decoder_in: int) -> Backbone:
    """Encoder to a flat feature vector and decoder from a flat vector of size `decoder_in`."""
    if cfg.backbone == "mlp":
        if not cfg.hidden:
            raise ConfigError("mlp backbone needs at least one hidden width (model.hidden)")
        encoder = MLPEncoder(data_shape, cfg.hidden)
        return Backbone(encoder, encoder.out_features, MLPDecoder(decoder_in, data_shape, cfg.hidden))
    if cfg.backbone == "conv":
        conv_encoder = ConvEncoder(data_shape, cfg.channels, cfg.res_blocks)
        bottom = conv_encoder.out_shape
        encoder = nn.Sequential(conv_encoder, nn.Flatten())
        decoder = nn.Sequential(
            nn.Linear(decoder_in, math.prod(bottom)),
            nn.Unflatten(1, bottom),
            ConvDecoder(data_shape, cfg.channels, cfg.res_blocks),
        )
        return Backbone(encoder, math.prod(bottom), decoder)
    raise ConfigError(f"unknown backbone {cfg.backbone!r}: use 'mlp' or 'conv'")
