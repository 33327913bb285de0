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
VQ-VAE then uses it with model.quantizer=<name>, through build_quantizer, or takes a
layer you built (VQVAE(config, shape, quantizer=layer)), whose config keys
`quantizer_config` reads back from its `settings()`: the inverse of build_quantizer.
"""

from __future__ import annotations

import inspect

from torch import nn

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


# The model config's keys build_quantizer reads beside quantizer, num_codes and code_dim (VQVAEConfig's).
OPTIONS = ("gradient", "commitment", "decay", "kmeans_init", "dead_code_steps", "codebook_dim", "stages",
           "shared_codebook", "quantizer_dropout", "stage_quantizer", "levels", "temperature", "temperature_end",
           "temperature_steps", "kl_weight", "diversity_weight", "hard")
# The model config's keys that a layer names otherwise: config key -> constructor argument.
RENAMED = {"stages": "num_quantizers", "stage_quantizer": "codebook"}
CONFIG_KEYS = {argument: key for key, argument in RENAMED.items()} | {"codebook_size": "num_codes", "dim": "code_dim"}


def build_quantizer(quantizer: str, num_codes: int, code_dim: int, **options) -> Quantizer:
    """The quantizer called `quantizer` for K=`num_codes` codes of size D=`code_dim`, on
    channels-first inputs [B, D, ...] (the VQ-VAEs' feature maps).

    `options` are the model config's keys (OPTIONS: commitment, decay, stages, ...); each
    quantizer takes those its constructor names and leaves the others (a 'vq'
    quantizer has no decay), so one model config can serve every quantizer. A quantizer
    whose size follows from its options (fsq: the product of its levels) must match num_codes.
    `quantizer_config` is the inverse: build_quantizer(**quantizer_config(layer)) builds layer again.
    """
    if quantizer not in QUANTIZERS:
        raise ConfigError(f"unknown quantizer {quantizer!r}; known: {', '.join(QUANTIZERS)}")
    cls = QUANTIZERS[quantizer]
    taken = inspect.signature(cls).parameters
    arguments = {RENAMED.get(k, k): v for k, v in options.items()} | {
        "dim": code_dim, "codebook_size": num_codes, "channels_first": True}
    built = cls(**{k: v for k, v in arguments.items() if k in taken})
    if "codebook_size" not in taken and built.num_codes != num_codes:
        raise ConfigError(f"the {quantizer} quantizer's options give it {built.num_codes} codes; "
                          f"set num_codes={built.num_codes} (got {num_codes})")
    return built


def quantizer_config(layer: nn.Module) -> dict:
    """The model config's keys that build `layer` again through build_quantizer: quantizer
    (its name in QUANTIZERS), num_codes, code_dim and every option its constructor took.
    ConfigError when no config can: a layer outside the family, a channel-last one, or an
    argument the config has no key for (chunk_size, epsilon) away from its default."""
    name = next((key for key, cls in QUANTIZERS.items() if type(layer) is cls), None)
    if name is None:
        raise ConfigError(f"the VQ-VAE takes a quantizer of vaelab's family (vaelab.quantizers): its config must be "
                          f"able to rebuild it (got a {type(layer).__name__})")
    settings, defaults = layer.settings(), inspect.signature(type(layer)).parameters
    if not settings.pop("channels_first"):
        raise ConfigError("pass channels_first=True: the VQ-VAE's grids are [B, D, h, w]")
    if settings["dim"] is None:
        raise ConfigError("pass dim=D to FSQ: the VQ-VAE's config builds it with its projections D -> len(levels) -> D")
    keys = {"quantizer": name, "num_codes": layer.num_codes}  # fsq's num_codes: the product of its levels
    for argument, value in settings.items():
        key = CONFIG_KEYS.get(argument, argument)
        if key in OPTIONS or key in ("num_codes", "code_dim"):
            keys[key] = value
        elif value != defaults[argument].default:
            raise ConfigError(f"a VQ-VAE's config has no key for {type(layer).__name__}'s {argument}={value}: "
                              f"leave it at {defaults[argument].default} so that the run folder can rebuild the layer")
    return keys


__all__ = [
    "CosineVectorQuantizer",
    "EMAVectorQuantizer",
    "FiniteScalarQuantizer",
    "GRADIENT_ESTIMATORS",
    "GumbelQuantizer",
    "OPTIONS",
    "ResidualVectorQuantizer",
    "QUANTIZERS",
    "Quantizer",
    "QuantizerOutput",
    "VectorQuantizer",
    "build_quantizer",
    "quantizer_config",
    "lbg",
    "lloyd_max",
    "nearest_code",
    "quantize_scalar",
    "squared_distances",
    "usage_stats",
]
