"""Building blocks shared by the models: MLP and convolutional backbones."""

from vaelab.nn.backbone import Backbone, build_backbone
from vaelab.nn.conv import ConvDecoder, ConvEncoder, ResidualBlock
from vaelab.nn.device import module_device, pick_device
from vaelab.nn.mlp import MLPDecoder, MLPEncoder

__all__ = [
    "Backbone",
    "build_backbone",
    "ConvDecoder",
    "ConvEncoder",
    "MLPDecoder",
    "MLPEncoder",
    "ResidualBlock",
    "module_device",
    "pick_device",
]
