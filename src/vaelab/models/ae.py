"""Plain autoencoder: z = e(x), x_hat = d(z), loss = -log p(x | z) (a reconstruction loss)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from vaelab.models.base import GenerativeModel, LossOutput
from vaelab.models.likelihoods import build_likelihood
from vaelab.nn.backbone import BackboneConfig, build_backbone


@dataclass
class AEConfig(BackboneConfig):
    name: str = "ae"
    latent_dim: int = 16
    likelihood: str = "bernoulli"  # bernoulli (BCE) | gaussian (squared error / 2c) | gaussian-learned
    variance: float = 1.0  # c of the Gaussian likelihood (its starting value when learned)


class AE(GenerativeModel):
    """Deterministic encoder and decoder. The reconstruction loss is the likelihood's NLL:
    BCE for 'bernoulli', ||x - x_hat||^2 / (2c) + const for 'gaussian' (nats per example).
    """

    name = "ae"

    def __init__(self, config: AEConfig, data_shape: tuple[int, int, int]):
        super().__init__(config, data_shape)
        nets = build_backbone(config, self.data_shape, decoder_in=config.latent_dim)
        self.encoder = nets.encoder  # x -> h [B, F]
        self.mu_head = nn.Linear(nets.features, config.latent_dim)  # h -> z (the VAE's posterior mean)
        self.decoder = nets.decoder  # z -> likelihood parameters [B, C, H, W]
        self.likelihood = build_likelihood(config.likelihood, config.variance)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: Tensor) -> Tensor:
        return self.mu_head(self.encoder(x))

    def decode(self, z: Tensor) -> Tensor:
        return self.likelihood.mean(self.decoder(z))

    def forward(self, x: Tensor, y: Tensor | None = None) -> LossOutput:
        recon = self.likelihood.nll(self.decoder(self.encode(x)), x).mean()
        return LossOutput(recon, {"recon": recon.detach()})
