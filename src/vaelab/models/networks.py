"""A model's encoder and decoder: your own modules, or the built-in backbone its config names.

Every model of the family builds its networks through `image_networks` (a flat latent
vector: the Gaussian-latent models, the AE, the hierarchical VAE) or `paper_encoder`,
`paper_decoder` and `check_grid_networks` (a grid of code vectors: the VQ-VAE), so that
the built-in backbones are the default arguments of one path, and your modules are
checked the same way as the built-in ones, once, when the model is built:

    flat latent   encoder: x [B, C, H, W] -> features [B, F]   (any F: the model's heads read them)
                  decoder: z [B, decoder_in] -> the likelihood's parameters [B, C, H, W]
    code grid     encoder: x [B, C, H, W] -> vectors [B, D, h, w]   (D = model.code_dim)
                  decoder: [B, D, h, w] -> the likelihood's parameters [B, C, H, W]

A model given your modules records `model.backbone = "custom"` in its config, so a run
folder says its networks are code that only you have: building such a config without
them is refused (`vaelab.load(RUN, encoder=..., decoder=...)` passes them back in).

The check runs each network once on two zero images (eval mode, no gradient; each
module's training flag is restored afterwards), which also materialises lazy layers.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import torch
from torch import nn

from vaelab.errors import ConfigError
from vaelab.nn.backbone import build_backbone
from vaelab.nn.conv import ConvDecoder, ConvEncoder
from vaelab.nn.device import module_device

CUSTOM = "custom"  # model.backbone of a model built with your own encoder and decoder
PROBE_BATCH = 2  # images in the construction-time check (2: a BatchNorm in train mode would also work)


class Networks(NamedTuple):
    encoder: nn.Module
    decoder: nn.Module | None
    out_shape: tuple[int, ...]  # what the encoder returns for one image: (F,) or (D, h, w)
    config: object  # the model's config, with backbone = "custom" when the networks are yours


def image_networks(config, data_shape: tuple[int, int, int], decoder_in: int, encoder: nn.Module | None = None,
                   decoder: nn.Module | None = None, takes_decoder: bool = True) -> Networks:
    """The encoder to features [B, F] and the decoder from z [B, decoder_in] of a flat-latent
    model: yours, or the backbone `config` names. `takes_decoder` False: the model has a
    decoder of its own (the oi-VAE's generators) and takes only your encoder."""
    config = networks_config(config, encoder, decoder, takes_decoder)
    if encoder is None:
        built = build_backbone(config, data_shape, decoder_in)
        encoder, decoder = built.encoder, built.decoder
    features = probe(encoder, torch.zeros(PROBE_BATCH, *data_shape), "encoder", "features [B, F]", flat=True)
    if takes_decoder:
        expect_output(decoder, torch.zeros(PROBE_BATCH, decoder_in), data_shape, "z", config.likelihood)
    return Networks(encoder, decoder if takes_decoder else None, features, config)


def paper_encoder(config, data_shape: tuple[int, int, int]) -> nn.Module:
    """The VQ-VAE paper's encoder: stride-2 convolutions and residual blocks (config.channels,
    res_blocks), then a 1x1 convolution to config.code_dim: x -> [B, D, h, w]."""
    return nn.Sequential(ConvEncoder(data_shape, config.channels, config.res_blocks),
                         nn.Conv2d(config.channels[-1], config.code_dim, 1))


def paper_decoder(config, data_shape: tuple[int, int, int]) -> nn.Module:
    """The mirror of `paper_encoder`: [B, D, h, w] -> the likelihood's parameters [B, C, H, W]."""
    return ConvDecoder(data_shape, config.channels, config.res_blocks, in_channels=config.code_dim)


def check_grid_networks(encoder: nn.Module, decoder: nn.Module, code_dim: int, data_shape: tuple[int, int, int],
                        likelihood: str, dim_from: str = "model.code_dim") -> tuple[int, ...]:
    """The grid (h, w) the encoder maps an image to, after checking that it returns vectors
    [B, code_dim, h, w] and that the decoder maps them back to [B, C, H, W]. `dim_from`
    says where code_dim comes from, for the message (your quantizer's dim, when it is yours)."""
    wanted = f"a grid [B, {code_dim}, h, w] ({dim_from} = {code_dim})"
    out = probe(encoder, torch.zeros(PROBE_BATCH, *data_shape), "encoder", wanted)
    if len(out) != 3 or out[0] != code_dim:
        raise ConfigError(f"the encoder returned {_shape((PROBE_BATCH, *out))} for x {_shape((PROBE_BATCH, *data_shape))}; "
                          f"the quantizer needs {wanted}")
    expect_output(decoder, torch.zeros(PROBE_BATCH, *out), data_shape, "the code grid", likelihood)
    return out[1:]


def networks_config(config, encoder: nn.Module | None, decoder: nn.Module | None, takes_decoder: bool = True):
    """`config` with backbone 'custom' when modules are given; ConfigError when some are
    missing (yours come as a pair), or when the config says 'custom' and none are given."""
    given = {"encoder": encoder is not None, "decoder": decoder is not None}
    wanted = ("encoder", "decoder") if takes_decoder else ("encoder",)
    if given["decoder"] and not takes_decoder:
        raise ConfigError(f"{config.name} builds its own decoder: pass only your encoder")
    if any(given.values()) and not all(given[name] for name in wanted):
        missing = next(name for name in wanted if not given[name])
        raise ConfigError(f"your networks replace the built-in ones together: pass {' and '.join(wanted)} "
                          f"(the {missing} is missing)")
    if any(given.values()):
        return dataclasses.replace(config, backbone=CUSTOM)
    if config.backbone == CUSTOM:
        raise ConfigError(f"model.backbone={CUSTOM}: this {config.name} runs your own networks; pass them "
                          f"({', '.join(f'{name}=...' for name in wanted)}), e.g. vaelab.load(RUN, "
                          f"{', '.join(f'{name}=My{name.title()}()' for name in wanted)})")
    return config


def probe(net: nn.Module, x: torch.Tensor, role: str, wanted: str, flat: bool = False) -> tuple[int, ...]:
    """The shape one example of net(x) has (x's batch dimension dropped), run once without
    gradients in eval mode; `flat` asks for [B, F]. ConfigError in the words of `role`."""
    out = _run(net, x, role, "x")
    if not isinstance(out, torch.Tensor) or out.dim() < 2 or out.shape[0] != len(x) or (flat and out.dim() != 2):
        got = _shape(tuple(out.shape)) if isinstance(out, torch.Tensor) else f"a {type(out).__name__}"
        raise ConfigError(f"the {role} returned {got} for x {_shape(tuple(x.shape))}; the model needs {wanted}")
    return tuple(out.shape[1:])


def expect_output(decoder: nn.Module, z: torch.Tensor, data_shape: tuple[int, int, int], what: str,
                  likelihood: str) -> None:
    """ConfigError unless decoder(z) is the likelihood's parameters [B, C, H, W] for images of data_shape."""
    out = _run(decoder, z, "decoder", what)
    wanted = (len(z), *data_shape)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != wanted:
        got = _shape(tuple(out.shape)) if isinstance(out, torch.Tensor) else f"a {type(out).__name__}"
        raise ConfigError(f"the decoder returned {got} for {what} {_shape(tuple(z.shape))}; the {likelihood} likelihood "
                          f"needs its parameters for every pixel, {_shape(wanted)} (B, C, H, W)")


def _run(net: nn.Module, x: torch.Tensor, role: str, what: str):
    """net(x) (`what`, for messages) in eval mode without gradients, on the net's device; its training flags restored after."""
    flags = {m: m.training for m in net.modules()}
    net.eval()
    try:
        with torch.no_grad():
            return net(x.to(module_device(net)))
    except Exception as e:  # the network's own error, said in the model's words
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConfigError(f"the {role} failed on {what} {_shape(tuple(x.shape))}: {first}") from None
    finally:
        for m, flag in flags.items():
            m.training = flag


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"
