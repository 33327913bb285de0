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
(base.py); vaelab.quantizers exports them under their short names. Beside each class
sits its config section (VectorQuantizerConfig, ...): the constructor's arguments as
`model.quantizer` of a VQ-VAE, chosen by its `name`. A new quantizer subclasses
base.Quantizer and base.QuantizerConfig in a file of its own and takes one line in each
of QUANTIZERS and QUANTIZER_CONFIGS; a VQ-VAE then uses it with model.quantizer.name=<name>,
through build_quantizer, or takes a layer you built (VQVAE(config, shape, quantizer=layer)),
whose section `quantizer_config` reads back from its `settings()`: the inverse of build_quantizer.
"""

from __future__ import annotations

from dataclasses import fields, replace

from torch import nn

from vaelab.errors import ConfigError
from vaelab.models.quantizers.base import Quantizer, QuantizerConfig, QuantizerOutput, usage_stats
from vaelab.models.quantizers.cosine import CosineVectorQuantizer, CosineVectorQuantizerConfig
from vaelab.models.quantizers.ema import EMAVectorQuantizer, EMAVectorQuantizerConfig
from vaelab.models.quantizers.estimators import GRADIENT_ESTIMATORS
from vaelab.models.quantizers.fsq import FiniteScalarQuantizer, FiniteScalarQuantizerConfig
from vaelab.models.quantizers.gumbel import GumbelQuantizer, GumbelQuantizerConfig
from vaelab.models.quantizers.lloyd import lbg, lloyd_max, nearest_code, quantize_scalar, squared_distances
from vaelab.models.quantizers.residual import ResidualVectorQuantizer, ResidualVectorQuantizerConfig
from vaelab.models.quantizers.vq import VectorQuantizer, VectorQuantizerConfig

QUANTIZERS: dict[str, type[Quantizer]] = {
    "vq": VectorQuantizer,
    "ema": EMAVectorQuantizer,
    "cosine": CosineVectorQuantizer,
    "residual": ResidualVectorQuantizer,
    "fsq": FiniteScalarQuantizer,
    "gumbel": GumbelQuantizer,
}

QUANTIZER_CONFIGS: dict[str, type[QuantizerConfig]] = {
    "vq": VectorQuantizerConfig,
    "ema": EMAVectorQuantizerConfig,
    "cosine": CosineVectorQuantizerConfig,
    "residual": ResidualVectorQuantizerConfig,
    "fsq": FiniteScalarQuantizerConfig,
    "gumbel": GumbelQuantizerConfig,
}


def quantizer_section(name: str, **options) -> QuantizerConfig:
    """The section of the quantizer called `name` (model.quantizer.name), with `options`
    (its fields) set and the others at their defaults."""
    if name not in QUANTIZER_CONFIGS:
        raise ConfigError(f"model.quantizer.name must be one of {', '.join(QUANTIZER_CONFIGS)}, got {name!r}")
    cls = QUANTIZER_CONFIGS[name]
    takes = [f.name for f in fields(cls) if f.name != "name"]
    unknown = sorted(options.keys() - set(takes))
    if unknown:
        raise ConfigError(f"the {name} quantizer has no option {', '.join(unknown)}; "
                          f"its options: {', '.join(takes) or 'none'}")
    return cls(**options)


def build_quantizer(quantizer: QuantizerConfig | str, num_codes: int, code_dim: int, **options) -> Quantizer:
    """The quantizer of the section `quantizer` (or of the name, with `options` set: see
    quantizer_section) for K=`num_codes` codes of size D=`code_dim` (a residual quantizer's
    K per stage), on channels-first inputs [B, D, ...] (the VQ-VAEs' feature maps). A
    quantizer whose size follows from its options (fsq: the product of its levels) must
    match num_codes. `quantizer_config` is the inverse.

        build_quantizer("ema", 512, 64, decay=0.9)    # as model.quantizer: {name: ema, decay: 0.9}
    """
    config = quantizer_section(quantizer, **options) if isinstance(quantizer, str) else replace(quantizer, **options)
    arguments = config.arguments() | {"dim": code_dim, "channels_first": True}
    if config.codebook_size() is None:
        arguments["codebook_size"] = num_codes
    built = QUANTIZERS[config.name](**arguments)
    if built.codes_per_position == 1 and built.num_codes != num_codes:
        raise ConfigError(f"the {config.name} quantizer's options give it {built.num_codes} codes; "
                          f"set model.num_codes={built.num_codes} (got {num_codes})")
    return built


def quantizer_config(layer: nn.Module) -> dict:
    """The model config's values that build `layer` again through build_quantizer: quantizer
    (its section, named by QUANTIZERS), num_codes and code_dim. ConfigError when no config
    can: a layer outside the family, a channel-last one, or an FSQ without dim."""
    name = next((key for key, cls in QUANTIZERS.items() if type(layer) is cls), None)
    if name is None:
        raise ConfigError(f"the VQ-VAE takes a quantizer of vaelab's family (vaelab.quantizers): its config must be "
                          f"able to rebuild it (got a {type(layer).__name__})")
    settings = layer.settings()
    if not settings.pop("channels_first"):
        raise ConfigError("pass channels_first=True: the VQ-VAE's grids are [B, D, h, w]")
    if settings["dim"] is None:
        raise ConfigError("pass dim=D to FSQ: the VQ-VAE's config builds it with its projections D -> len(levels) -> D")
    code_dim, num_codes = settings.pop("dim"), settings.pop("codebook_size", layer.num_codes)
    section = QUANTIZER_CONFIGS[name]
    return {"quantizer": section(**{f.name: settings[f.name] for f in fields(section) if f.name != "name"}),
            "num_codes": num_codes, "code_dim": code_dim}


__all__ = [
    "CosineVectorQuantizer",
    "CosineVectorQuantizerConfig",
    "EMAVectorQuantizerConfig",
    "FiniteScalarQuantizerConfig",
    "GumbelQuantizerConfig",
    "ResidualVectorQuantizerConfig",
    "VectorQuantizerConfig",
    "quantizer_section",
    "EMAVectorQuantizer",
    "FiniteScalarQuantizer",
    "GRADIENT_ESTIMATORS",
    "GumbelQuantizer",
    "ResidualVectorQuantizer",
    "QUANTIZERS",
    "QUANTIZER_CONFIGS",
    "QuantizerConfig",
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
