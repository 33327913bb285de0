"""Variational autoencoder (Kingma & Welling, 2014).

q(z|x) = N(mu(x), diag(sigma^2(x))) from two heads on the encoder's features,
z = mu + sigma * eps (the reparameterization trick), p(z) = N(0, I), and the loss is the
negative ELBO in nats per example:

    loss = E_q[-log p(x|z)] + KL(q(z|x) || p(z))      (one sample of z per example)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vaelab.models.ae import AE, AEConfig
from vaelab.models.base import LossOutput
from vaelab.models.gaussian import kl_to_standard_normal, reparameterize


@dataclass
class VAEConfig(AEConfig):
    name: str = "vae"


class VAE(AE):
    """An AE whose encoder also has a log-variance head, trained on the negative ELBO."""

    name = "vae"

    def __init__(self, config: VAEConfig, data_shape: tuple[int, int, int]):
        super().__init__(config, data_shape)
        self.logvar_head = nn.Linear(self.mu_head.in_features, config.latent_dim)

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x [B, C, H, W] -> (mu, logvar), each [B, latent_dim]."""
        h = self.encoder(x)
        return self.mu_head(h), self.logvar_head(h)

    def forward(self, x: Tensor, y: Tensor | None = None) -> LossOutput:
        mu, logvar = self.posterior(x)
        z = reparameterize(mu, logvar)
        recon = self.likelihood.nll(self.decoder(z), x).mean()
        kl = kl_to_standard_normal(mu, logvar).sum(1).mean()
        loss = recon + kl
        return LossOutput(loss, {"recon": recon.detach(), "kl": kl.detach()})

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        return self.decode(z)
