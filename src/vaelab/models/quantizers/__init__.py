"""The quantizer family: one output contract (base.QuantizerOutput), one file per quantizer.

    vq     VectorQuantizer       codebook trained by the codebook loss
    ema    EMAVectorQuantizer    codebook moved by exponential moving averages
    lloyd  nearest_code, lloyd_max, lbg: the search and the k-means the codebooks use

A new quantizer subclasses base.Quantizer in a file of its own and takes one line in
QUANTIZERS; a VQ-VAE then uses it with model.quantizer=<name>.
"""

from __future__ import annotations

import inspect

from vaelab.errors import ConfigError
from vaelab.models.quantizers.base import Quantizer, QuantizerOutput, usage_stats
from vaelab.models.quantizers.ema import EMAVectorQuantizer
from vaelab.models.quantizers.lloyd import lbg, lloyd_max, nearest_code, quantize_scalar, squared_distances
from vaelab.models.quantizers.vq import VectorQuantizer

QUANTIZERS: dict[str, type[Quantizer]] = {
    "vq": VectorQuantizer,
    "ema": EMAVectorQuantizer,
}


def build_quantizer(name: str, num_codes: int, code_dim: int, **options) -> Quantizer:
    """The quantizer called `name` for K=`num_codes` codes of size D=`code_dim`.

    `options` are keyword arguments of the family (commitment, decay, kmeans_init, ...);
    each quantizer takes those its constructor names and leaves the others (a 'vq'
    quantizer has no decay), so one model config can serve every quantizer.
    """
    if name not in QUANTIZERS:
        raise ConfigError(f"unknown quantizer {name!r}; known: {', '.join(QUANTIZERS)}")
    quantizer = QUANTIZERS[name]
    taken = inspect.signature(quantizer).parameters
    return quantizer(num_codes, code_dim, **{k: v for k, v in options.items() if k in taken})


__all__ = [
    "EMAVectorQuantizer",
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
