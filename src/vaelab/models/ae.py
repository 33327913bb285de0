"""Plain autoencoder: z = e(x), x_hat = d(z), loss = -log p(x | z) (a reconstruction loss)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from vaelab.config import NO_DATA, ModelSection, RunConfig, above, at_least, each_at_least, one_of
from vaelab.errors import CapabilityError
from vaelab.models.base import GenerativeModel, LatentVectorModel, LossOutput
from vaelab.models.likelihoods import build_likelihood
from vaelab.models.networks import image_networks
from vaelab.nn.backbone import BackboneConfig
from vaelab.nn.conv import check_side


def check_conv_side(channels: list[int], where: str, root: Any) -> None:
    """ConfigError when the images of `root` (a RunConfig) are too small for conv stages `channels`."""
    if isinstance(root, RunConfig) and root.data.name != NO_DATA:  # data from Python: their side is the model's
        check_side(root.data.side(), len(channels), root.data.side_key(), f"{where}channels")


@dataclass
class NetworkConfig(BackboneConfig, ModelSection):
    """The encoder and decoder networks and the likelihood p(x|z): what every model of the
    autoencoder family configures the same way."""

    # BackboneConfig's keys again, with the values they accept (nn/ cannot import config.py)
    backbone: str = one_of("mlp", "conv", "custom", default="mlp")  # custom: your own encoder and decoder (models/networks.py)
    hidden: list[int] = each_at_least(1, default=[512])  # mlp: encoder widths (decoder mirrors)
    channels: list[int] = each_at_least(1, default=[32, 64])  # conv: channels per stride-2 stage
    res_blocks: int = at_least(0, default=2)  # conv: residual blocks at the bottom of encoder and decoder
    likelihood: str = one_of("bernoulli", "gaussian", "gaussian-learned", default="bernoulli")  # BCE | squared error / 2c | c learned
    variance: float = above(0, default=1.0)  # c of the Gaussian likelihood (its starting value when learned)

    def check_across(self, where: str, root: Any) -> None:
        if self.backbone == "conv":
            check_conv_side(self.channels, where, root)


@dataclass
class AEConfig(NetworkConfig):
    name: str = "ae"
    latent_dim: int = at_least(1, default=16)


class AE(GenerativeModel, LatentVectorModel):
    """Deterministic encoder and decoder. The reconstruction loss is the likelihood's NLL:
    BCE for 'bernoulli', ||x - x_hat||^2 / (2c) + const for 'gaussian' (nats per example).

    Subclasses that condition on a label set `label_dim` > 0 and `embed_label`: the
    label's embedding [B, label_dim] is appended to the encoder's features (so the
    heads see it) and to z at the decoder's input.

    Args:
        config: the model's keys (AEConfig or a subclass's).
        data_shape: (C, H, W) of the images.
        num_classes: the labels' classes, for a conditional model.
        encoder, decoder: your own networks in place of the backbone `config.backbone`
            names (models/networks.py): x [B, C, H, W] -> features [B, F], and z [B,
            latent_dim (+ label_dim)] -> the likelihood's parameters [B, C, H, W]. Both
            or neither; checked once here.
    """

    name = "ae"

    def __init__(self, config: AEConfig, data_shape: tuple[int, int, int], num_classes: int | None = None,
                 label_dim: int = 0, *, encoder: nn.Module | None = None, decoder: nn.Module | None = None,
                 takes_decoder: bool = True):
        super().__init__(config, data_shape, num_classes)
        nets = image_networks(config, self.data_shape, config.latent_dim + label_dim, encoder, decoder, takes_decoder)
        self.config = nets.config  # backbone 'custom' when the networks are yours
        self.encoder = nets.encoder  # x -> h [B, F]
        self.mu_head = nn.Linear(nets.out_shape[0] + label_dim, config.latent_dim)  # h -> z (the VAE's posterior mean)
        self.decoder = nets.decoder  # z -> likelihood parameters [B, C, H, W]
        self.likelihood = build_likelihood(config.likelihood, config.variance)
        self.embed_label: nn.Module | None = None

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def _with_label(self, h: Tensor, y: Tensor | None) -> Tensor:
        """[B, F] -> [B, F + label_dim] for conditional models; unchanged otherwise."""
        if self.embed_label is None:
            return h
        if y is None:
            raise CapabilityError(f"model {self.name!r} is conditional: it needs the labels of its inputs")
        return torch.cat([h, self.embed_label(y)], dim=1)

    def features(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """What the latent heads read: encoder features (and the label embedding)."""
        return self._with_label(self.encoder(x), y)

    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.mu_head(self.features(x, y))

    def decoder_output(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """The likelihood's parameters (Bernoulli logits or Gaussian means) [B, C, H, W]."""
        return self.decoder(self._with_label(z, y))

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        return self.likelihood.mean(self.decoder_output(z, y))

    def forward(self, x: Tensor, y: Tensor | None = None) -> LossOutput:
        recon = self.likelihood.nll(self.decoder_output(self.encode(x, y), y), x).mean()
        return LossOutput(recon, {"recon": recon.detach()})
