"""The quantizer family: layers with one output contract (base.QuantizerOutput), one file per quantizer.

    vq        VectorQuantizer               codebook trained by the codebook loss
    ema       EMAVectorQuantizer            codebook moved by exponential moving averages
    cosine    CosineVectorQuantizer         normalised lookup in a low-dimensional codebook
    residual  ResidualVectorQuantizer       S stages quantising each other's residuals
    fsq       FiniteScalarQuantizer         bounded scalars rounded to a fixed grid, no codebook
    gumbel    GumbelQuantizer               relaxed categorical (DALL-E's dVAE), KL to uniform
    estimators  straight-through and the rotation trick: how gradients cross (model.gradient)
    lloyd  nearest_code, lloyd_max, lbg: the search and the k-means the codebooks use

Each is a layer built from its own arguments (VectorQuantizer(dim=64, codebook_size=512),
FiniteScalarQuantizer(levels=[8, 6, 5])), channel-last [B, ..., D] by default
(base.py); vaelab.quantizers exports them under their short names. A new quantizer
subclasses base.Quantizer in a file of its own and takes one line in QUANTIZERS; a
VQ-VAE then uses it with model.quantizer=<name>, through build_quantizer.
"""

from __future__ import annotations

import inspect

from vaelab.errors import ConfigError
from vaelab.models.quantizers.base import Quantizer, QuantizerOutput, usage_stats
from vaelab.models.quantizers.cosine import CosineVectorQuantizer
from vaelab.models.quantizers.ema import EMAVectorQuantizer
from vaelab.models.quantizers.estimators import GRADIENT_ESTIMATORS
from vaelab.models.quantizers.fsq import FiniteScalarQuantizer
from vaelab.models.quantizers.gumbel import GumbelQuantizer
from vaelab.models.quantizers.lloyd import lbg, lloyd_max, nearest_code, quantize_scalar, squared_distances
from vaelab.models.quantizers.residual import ResidualVectorQuantizer
from vaelab.models.quantizers.vq import VectorQuantizer

QUANTIZERS: dict[str, type[Quantizer]] = {
    "vq": VectorQuantizer,
    "ema": EMAVectorQuantizer,
    "cosine": CosineVectorQuantizer,
    "residual": ResidualVectorQuantizer,
    "fsq": FiniteScalarQuantizer,
    "gumbel": GumbelQuantizer,
}


# The model config's keys that a layer names otherwise: config key -> constructor argument.
RENAMED = {"stages": "num_quantizers"}


def build_quantizer(name: str, num_codes: int, code_dim: int, **options) -> Quantizer:
    """The quantizer called `name` for K=`num_codes` codes of size D=`code_dim`, on
    channels-first inputs [B, D, ...] (the VQ-VAEs' feature maps).

    `options` are keyword arguments of the family (commitment, decay, kmeans_init, ...);
    each quantizer takes those its constructor names and leaves the others (a 'vq'
    quantizer has no decay), so one model config can serve every quantizer. A quantizer
    whose size follows from its options (fsq: the product of its levels) must match num_codes.
    """
    if name not in QUANTIZERS:
        raise ConfigError(f"unknown quantizer {name!r}; known: {', '.join(QUANTIZERS)}")
    quantizer = QUANTIZERS[name]
    taken = inspect.signature(quantizer).parameters
    arguments = {RENAMED.get(k, k): v for k, v in options.items()} | {
        "dim": code_dim, "codebook_size": num_codes, "channels_first": True}
    built = quantizer(**{k: v for k, v in arguments.items() if k in taken})
    if "codebook_size" not in taken and built.num_codes != num_codes:
        raise ConfigError(f"the {name} quantizer's options give it {built.num_codes} codes; "
                          f"set num_codes={built.num_codes} (got {num_codes})")
    return built


__all__ = [
    "CosineVectorQuantizer",
    "EMAVectorQuantizer",
    "FiniteScalarQuantizer",
    "GRADIENT_ESTIMATORS",
    "GumbelQuantizer",
    "ResidualVectorQuantizer",
    "QUANTIZERS",
    "Quantizer",
    "QuantizerOutput",
    "VectorQuantizer",
    "build_quantizer",
    "lbg",
    "lloyd_max",
    "nearest_code",
    "quantize_scalar",
    "squared_distances",
    "usage_stats",
]
