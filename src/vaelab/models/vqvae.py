"""VQ-VAE (van den Oord et al., 2017): a convolutional autoencoder with a discrete latent grid.

    z_e = E(x) [B, D, h, w]  ->  nearest codewords z_q, codes [B, h, w]  ->  x_hat = G(z_q)
    loss = -log p(x | z_q) + the quantizer's losses (commitment; codebook for 'vq')   per example

Encoder and decoder are the paper's: stride-2 4x4 convolutions (one per entry of
`channels`), two residual blocks (3x3 then 1x1), a 1x1 convolution to the code dimension
D, and the mirror. The model generates through a prior over its code grids, trained after
it (`vaelab prior train RUN`, a gated PixelCNN; code_model.py). The quantizer is any of the family in models/quantizers (`model.quantizer`, its own
section: `{name: fsq, levels: [8, 6, 5]}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from torch import Tensor, nn

from vaelab.config import above, at_least, each_at_least, one_of
from vaelab.errors import ConfigError
from vaelab.models.ae import check_conv_side
from vaelab.models.base import CodePrior, HasCritic, LossOutput
from vaelab.models.code_model import CodeModel
from vaelab.models.priors import GatedPixelCNN, PixelCNNConfig, StackedPrior
from vaelab.models.likelihoods import build_likelihood
from vaelab.models.quantizers import (QUANTIZER_CONFIGS, EMAVectorQuantizerConfig, Quantizer, QuantizerConfig,
                                      build_quantizer, quantizer_config, quantizer_section)
from vaelab.models.sharpness import SharpnessConfig, Sharpener, critic_parameters, sharpening_terms
from vaelab.models.networks import check_grid_networks, networks_config, paper_decoder, paper_encoder


DEFAULT_QUANTIZER = "ema"


@dataclass
class VQVAEConfig(SharpnessConfig):
    name: str = "vqvae"
    backbone: str = one_of("conv", "custom", default="conv")  # custom: your own encoder and decoder (models/networks.py)
    channels: list[int] = each_at_least(1, default=[32, 64])  # stride-2 stages: 28 -> 14 -> 7
    res_blocks: int = at_least(0, default=2)
    num_codes: int = at_least(2, default=256)  # K
    code_dim: int = at_least(1, default=16)  # D
    quantizer: Any = field(default_factory=EMAVectorQuantizerConfig)  # its own section, chosen by name:
    #   {name: ema | vq | cosine | residual | fsq | gumbel, ...its options} (models/quantizers/)
    likelihood: str = one_of("gaussian", "bernoulli", default="gaussian")  # squared error / 2c + const | BCE
    variance: float = above(0, default=0.05)  # c; about half the pixel variance weighs reconstruction like the paper's MSE / Var(x)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "quantizer" and isinstance(value, str):  # VQVAEConfig(quantizer="vq"): its defaults
            value = quantizer_section(value)
        super().__setattr__(name, value)

    @classmethod
    def schema(cls, raw: Mapping[str, Any]) -> VQVAEConfig:
        """The defaults that `raw` (a `model:` mapping) is merged into, with the quantizer
        section that `raw`'s quantizer.name picks (default ema). When the quantizer's
        options make its codebook (fsq's levels), num_codes defaults to its size."""
        chosen = raw.get("quantizer")
        chosen = dict(chosen) if isinstance(chosen, Mapping) else {}
        name = chosen.pop("name", DEFAULT_QUANTIZER)
        quantizer = quantizer_section(name if isinstance(name, str) else DEFAULT_QUANTIZER)
        try:  # with the options given, when they are valid (if not, the merge says what is wrong)
            quantizer = quantizer_section(quantizer.name, **chosen)
        except (ConfigError, TypeError):
            pass
        return cls(quantizer=quantizer, num_codes=quantizer.codebook_size() or cls.num_codes)

    def check_across(self, where: str, root: Any) -> None:
        if self.backbone == "conv":  # your own networks say their sides themselves, when they are built
            check_conv_side(self.channels, where, root)
        SharpnessConfig.check_across(self, where, root)
        if not isinstance(self.quantizer, QuantizerConfig):
            raise ConfigError(f"{where}quantizer must be a quantizer's section ({', '.join(QUANTIZER_CONFIGS)}: "
                              f"vaelab.models.quantizers), got {self.quantizer!r}")
        size = self.quantizer.codebook_size()
        if size is not None and size != self.num_codes:
            raise ConfigError(f"the {self.quantizer.name} quantizer's options make {size} codes: set {where}num_codes="
                              f"{size} (got {self.num_codes})")


class VQVAE(CodeModel, HasCritic):
    """Terms: recon (nats per example), commitment and codebook (summed squared distances
    per example), and mse: the mean squared error per pixel on the [0, 1] scale; with the
    sharpening losses (models/sharpness.py) perceptual, adversarial and critic.

    Your own `encoder` and `decoder` (models/networks.py) replace the paper's convolutions:
    x [B, C, H, W] -> vectors [B, code_dim, h, w] (any grid h x w: the prior is a PixelCNN
    over it), and [B, code_dim, h, w] -> the likelihood's parameters [B, C, H, W].

    Your own `quantizer`, a channels-first layer of the family (vaelab.quantizers), is used
    as given; the model's config (a copy) then says how to build it again (quantizer,
    num_codes, code_dim and its options: quantizer_config), so a run folder rebuilds it.
    """

    name = "vqvae"
    critic_betas = (0.5, 0.9)

    def __init__(self, config: VQVAEConfig, data_shape: tuple[int, int, int], num_classes: int | None = None,
                 *, encoder: nn.Module | None = None, decoder: nn.Module | None = None,
                 quantizer: Quantizer | None = None):
        config = networks_config(config, encoder, decoder)  # backbone 'custom' when the networks are yours
        if quantizer is not None:  # the config says your layer's keys, so that a run folder rebuilds it
            config = replace(config, **quantizer_config(quantizer))
        super().__init__(config, data_shape, num_classes)
        if config.likelihood not in ("gaussian", "bernoulli"):
            raise ConfigError(f"vqvae likelihood must be 'gaussian' or 'bernoulli', got {config.likelihood!r}")
        self.encoder = paper_encoder(config, self.data_shape) if encoder is None else encoder  # x -> z_e [B, D, h, w]
        # built between the two networks, as it always was: the same seed gives the same weights
        self.quantizer = build_quantizer(config.quantizer, config.num_codes, config.code_dim) \
            if quantizer is None else quantizer
        self.decoder = paper_decoder(config, self.data_shape) if decoder is None else decoder  # z_q -> [B, C, H, W]
        self.likelihood = build_likelihood(config.likelihood, config.variance)
        dim_from = "model.code_dim" if quantizer is None else f"your {type(quantizer).__name__}'s dim"
        self._grid = check_grid_networks(self.encoder, self.decoder, config.code_dim, self.data_shape,
                                         config.likelihood, dim_from)  # (h, w)
        self.sharpener = Sharpener(config, self.data_shape) if config.sharpened else None
        self.critic_lr = config.critic_lr

    def critic_parameters(self) -> list[nn.Parameter]:
        return critic_parameters(self.sharpener)

    @property
    def grid(self) -> tuple[int, int]:
        return self._grid

    @property
    def code_shape(self) -> tuple[int, ...]:
        """(h, w), or (S, h, w) for a residual quantizer."""
        return self._grid if self.codes_per_position == 1 else (self.codes_per_position, *self._grid)

    def make_prior(self, config: PixelCNNConfig) -> CodePrior:
        """A gated PixelCNN over this model's code grids (one per stage for stacked codes)."""
        if self.codes_per_position != 1:
            return StackedPrior(self.num_codes, self.codes_per_position, config)
        return GatedPixelCNN(self.num_codes, config)

    @property
    def codes_per_position(self) -> int:
        """1, or the S stages of a residual quantizer (codes [B, S, h, w])."""
        return self.quantizer.codes_per_position

    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """x -> quantized vectors z_q [B, D, h, w]."""
        return self.quantizer(self.encoder(x)).z_q

    def encode_codes(self, x: Tensor) -> Tensor:
        """x [B, C, H, W] -> code indices int64 [B, h, w]."""
        return self.quantizer(self.encoder(x)).codes

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z [B, D, h, w] (codewords, or any point between them) -> images in [0, 1]."""
        return self.likelihood.mean(self.decoder(z))

    def decode_codes(self, codes: Tensor) -> Tensor:
        return self.decode(self.quantizer.lookup(codes))

    def forward(self, x: Tensor, y: Tensor | None = None) -> LossOutput:
        q = self.quantizer(self.encoder(x))
        out = self.decoder(q.z_q)
        recon = self.likelihood.nll(out, x).mean()
        x_hat = self.likelihood.mean(out)
        losses = q.losses | sharpening_terms(self.sharpener, x, out, self.likelihood, recon, self.decoder)
        mse = (x_hat - x).pow(2).mean()
        return LossOutput(recon + sum(losses.values()), {"recon": recon.detach(), **{k: v.detach() for k, v in losses.items()},
                                                         "mse": mse.detach()})

    def count_codes(self, codes: Tensor) -> Tensor:
        return self.quantizer.count_codes(codes)

    def reset_epoch_stats(self) -> None:
        self.quantizer.reset_usage()

    def epoch_stats(self) -> dict[str, float]:
        return self.quantizer.usage_stats()
