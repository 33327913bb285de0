"""VQ-VAE-2 (Razavi et al., 2019): two levels of codes, a coarse top grid for global
structure and a finer bottom grid for detail, each with its own prior.

    h_b = E_b(x)                              [B, C, hb, wb]   (the VQ-VAE's encoder)
    h_t = E_t(h_b)                            [B, C, ht, wt]   (more stride-2 stages)
    e_t, codes_t = Q_t(W_t h_t)               [B, D, ht, wt]
    e_b, codes_b = Q_b(W_b [h_b, G_t(e_t)])   [B, D, hb, wb]   (the bottom sees what the top says)
    x_hat = G([e_b, U(e_t)])                                    (both levels decode together)
    loss = -log p(x | x_hat) + both quantizers' losses          nats per example

G_t and U are transposed-convolution stacks from the top grid to the bottom one. The
prior is p(codes_t) p(codes_b | codes_t): two gated PixelCNNs (priors/two_level.py),
trained by `vaelab prior train RUN`. Codes travel as one tensor, the top grid's then
the bottom grid's, [B, ht wt + hb wb] (`join_levels`); `encode` returns both levels'
vectors flattened and joined the same way, [B, D (ht wt + hb wb)], so interpolation
works on both levels at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from vaelab.config import each_at_least
from vaelab.errors import ConfigError
from vaelab.models.base import CodePrior, HasCritic, LossOutput
from vaelab.models.code_model import CodeModel
from vaelab.models.networks import PROBE_BATCH, expect_output, networks_config, probe
from vaelab.models.likelihoods import build_likelihood
from vaelab.models.priors import PixelCNNConfig, TwoLevelPrior, join_levels, split_levels
from vaelab.models.quantizers import build_quantizer
from vaelab.models.sharpness import Sharpener, critic_parameters, sharpening_terms
from vaelab.models.vqvae import VQVAEConfig
from vaelab.nn.conv import ConvDecoder, ConvEncoder


@dataclass
class VQVAE2Config(VQVAEConfig):
    name: str = "vqvae2"
    top_channels: list[int] = each_at_least(1, default=[64])  # stride-2 stages from the bottom grid to the top one

    def check_across(self, where: str, root: Any) -> None:
        super().check_across(where, root)
        if self.quantizer.name == "residual":
            raise ConfigError(f"{where}quantizer.name=residual stacks codes per position; vqvae2 takes one code per "
                              f"position at each level")


def bottom_features(encoder: nn.Module, data_shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """(C, hb, wb): what the bottom encoder makes of one image, after checking it is a grid."""
    out = probe(encoder, torch.zeros(PROBE_BATCH, *data_shape), "encoder", "features [B, C, hb, wb]")
    if len(out) != 3:
        raise ConfigError(f"the encoder returned [{PROBE_BATCH}, {', '.join(map(str, out))}] for x "
                          f"[{PROBE_BATCH}, {', '.join(map(str, data_shape))}]; vqvae2 needs features [B, C, hb, wb]")
    return out


class VQVAE2(CodeModel, HasCritic):
    """Terms: recon (nats per example), each level's quantizer losses (top_*, bottom_*),
    and mse: the mean squared error per pixel on the [0, 1] scale; with the sharpening
    losses (models/sharpness.py) perceptual, adversarial and critic.

    Your own `encoder` and `decoder` (models/networks.py) replace the bottom ones: x [B, C,
    H, W] -> features h_b [B, C', hb, wb] (any C'), and both levels' vectors [B, 2 code_dim,
    hb, wb] -> the likelihood's parameters [B, C, H, W]; the top level (E_t, G_t, U, from
    model.top_channels) stays the model's own. Its two quantizers come from its config.
    """

    name = "vqvae2"
    critic_betas = (0.5, 0.9)

    def __init__(self, config: VQVAE2Config, data_shape: tuple[int, int, int], num_classes: int | None = None,
                 *, encoder: nn.Module | None = None, decoder: nn.Module | None = None,
                 quantizer: nn.Module | None = None):
        if quantizer is not None:
            raise ConfigError("vqvae2 builds its two quantizers from its config: set model.quantizer (a section: "
                              "name and options) instead of passing quantizer=")
        config = networks_config(config, encoder, decoder)  # backbone 'custom' when the networks are yours
        super().__init__(config, data_shape, num_classes)
        d = config.code_dim
        self.encoder = ConvEncoder(self.data_shape, config.channels, config.res_blocks) if encoder is None else encoder
        bottom = bottom_features(self.encoder, self.data_shape)  # (C, hb, wb)
        c = bottom[0]
        self.top_encoder = ConvEncoder(bottom, config.top_channels, config.res_blocks)
        self._grids = (tuple(self.top_encoder.out_shape[1:]), tuple(bottom[1:]))  # (top (ht, wt), bottom (hb, wb))
        self.to_top = nn.Conv2d(config.top_channels[-1], d, 1)
        self.top_decoder = ConvDecoder((d, *bottom[1:]), config.top_channels, config.res_blocks, in_channels=d)
        self.to_bottom = nn.Conv2d(c + d, d, 1)
        self.upsample_top = ConvDecoder((d, *bottom[1:]), config.top_channels, 0, in_channels=d)
        if decoder is None:
            decoder = ConvDecoder(self.data_shape, config.channels, config.res_blocks, in_channels=2 * d)
        self.decoder = decoder  # both levels' vectors [B, 2D, hb, wb] -> the likelihood's parameters
        expect_output(decoder, torch.zeros(PROBE_BATCH, 2 * d, *bottom[1:]), self.data_shape, "both levels' vectors",
                      config.likelihood)
        self.top_quantizer = build_quantizer(config.quantizer, config.num_codes, d)
        self.bottom_quantizer = build_quantizer(config.quantizer, config.num_codes, d)
        self.likelihood = build_likelihood(config.likelihood, config.variance)
        self.sharpener = Sharpener(config, self.data_shape) if config.sharpened else None
        self.critic_lr = config.critic_lr

    def critic_parameters(self) -> list[nn.Parameter]:
        return critic_parameters(self.sharpener)

    @property
    def grids(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """((ht, wt), (hb, wb)): the top and bottom code grids."""
        return self._grids

    @property
    def grid(self) -> tuple[int, int]:
        return self._grids[1]

    @property
    def code_shape(self) -> tuple[int]:
        (ht, wt), (hb, wb) = self._grids
        return (ht * wt + hb * wb,)

    @property
    def codes_per_position(self) -> int:
        return 1

    def code_tables(self) -> list[tuple[str, tuple[int, int]]]:
        """The joined codes as the two grids they are: the top level's, then the bottom's."""
        return [("top", self._grids[0]), ("bottom", self._grids[1])]

    def make_prior(self, config: PixelCNNConfig) -> CodePrior:
        return TwoLevelPrior(self.num_codes, *self._grids, config)

    def quantize(self, x: Tensor):
        """x -> (top QuantizerOutput, bottom QuantizerOutput)."""
        h_b = self.encoder(x)  # (B, C, hb, wb)
        top = self.top_quantizer(self.to_top(self.top_encoder(h_b)))  # z_q (B, D, ht, wt)
        bottom = self.bottom_quantizer(self.to_bottom(torch.cat([h_b, self.top_decoder(top.z_q)], 1)))  # (B, D, hb, wb)
        return top, bottom

    def decode_levels(self, top: Tensor, bottom: Tensor) -> Tensor:
        """Both levels' vectors [B, D, ht, wt], [B, D, hb, wb] -> the decoder's output."""
        return self.decoder(torch.cat([bottom, self.upsample_top(top)], 1))

    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """x -> both levels' quantized vectors, flattened and joined: [B, D (ht wt + hb wb)]."""
        top, bottom = self.quantize(x)
        return torch.cat([top.z_q.flatten(1), bottom.z_q.flatten(1)], 1)

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Joined vectors [B, D (ht wt + hb wb)] (as `encode` gives) -> images in [0, 1]."""
        (ht, wt), (hb, wb) = self._grids
        d = self.config.code_dim
        top, bottom = z[:, : d * ht * wt].view(-1, d, ht, wt), z[:, d * ht * wt :].view(-1, d, hb, wb)
        return self.likelihood.mean(self.decode_levels(top, bottom))

    def encode_codes(self, x: Tensor) -> Tensor:
        """x -> joined codes int64 [B, ht wt + hb wb]."""
        top, bottom = self.quantize(x)
        return join_levels(top.codes, bottom.codes)

    def decode_codes(self, codes: Tensor) -> Tensor:
        top, bottom = split_levels(codes, *self._grids)
        return self.likelihood.mean(self.decode_levels(self.top_quantizer.lookup(top), self.bottom_quantizer.lookup(bottom)))

    def forward(self, x: Tensor, y: Tensor | None = None) -> LossOutput:
        top, bottom = self.quantize(x)
        out = self.decode_levels(top.z_q, bottom.z_q)
        recon = self.likelihood.nll(out, x).mean()
        x_hat = self.likelihood.mean(out)
        losses = {f"top_{k}": v for k, v in top.losses.items()} | {f"bottom_{k}": v for k, v in bottom.losses.items()}
        losses |= sharpening_terms(self.sharpener, x, out, self.likelihood, recon, self.decoder)
        mse = (x_hat - x).pow(2).mean()
        return LossOutput(recon + sum(losses.values()), {"recon": recon.detach(), **{k: v.detach() for k, v in losses.items()},
                                                         "mse": mse.detach()})

    def count_codes(self, codes: Tensor) -> Tensor:
        """Counts over both codebooks: the top's K codewords, then the bottom's K."""
        top, bottom = split_levels(codes, *self._grids)
        return torch.cat([self.top_quantizer.count_codes(top), self.bottom_quantizer.count_codes(bottom)])

    def reset_epoch_stats(self) -> None:
        self.top_quantizer.reset_usage()
        self.bottom_quantizer.reset_usage()

    def epoch_stats(self) -> dict[str, float]:
        top, bottom = self.top_quantizer.usage_stats(), self.bottom_quantizer.usage_stats()
        return {f"top_{k}": v for k, v in top.items()} | {f"bottom_{k}": v for k, v in bottom.items()}
