"""Variational autoencoder (Kingma & Welling, 2014), with beta-VAE weights and schedules.

q(z|x) = N(mu(x), diag(sigma^2(x))) from two heads on the encoder's features,
z = mu + sigma * eps (the reparameterization trick), p(z) = N(0, I). The negative ELBO,
in nats per example, is

    -ELBO = E_q[-log p(x|z)] + KL(q(z|x) || p(z))      (one sample of z per example)

and the training loss replaces KL by the schedule's penalty: beta_t * KL (beta-VAE,
KL warm-up) or gamma * |KL - C_t| (capacity). With the defaults it is the -ELBO itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from vaelab.config import at_least
from vaelab.errors import CapabilityError
from vaelab.models.ae import AE, AEConfig
from vaelab.models.base import GaussianLatentModel, LossOutput
from vaelab.models.gaussian import reparameterize
from vaelab.models.priors.standard_normal import StandardNormalPrior
from vaelab.models.schedules import KLSchedule


@dataclass
class VAEConfig(AEConfig):
    name: str = "vae"
    beta: float = at_least(0, default=1.0)  # weight of the KL term (beta-VAE: beta > 1)
    warmup_steps: int = at_least(0, default=0)  # KL warm-up: the weight rises linearly from 0 to beta over these steps
    capacity_max: Optional[float] = at_least(0, default=None)  # capacity form: gamma * |KL - C|, C rising from 0 to this (nats)
    capacity_steps: int = at_least(0, default=100_000)  # steps over which C rises
    gamma: float = at_least(0, default=1000.0)  # weight of |KL - C| in the capacity form


@dataclass
class BetaVAEConfig(VAEConfig):
    """A VAE whose KL weighs beta = 4 by default (Higgins et al., 2017)."""

    name: str = "beta-vae"
    beta: float = at_least(0, default=4.0)


class VAE(AE, GaussianLatentModel):
    """An AE whose encoder also has a log-variance head, trained on the (weighted) negative ELBO.
    Its prior p(z) = N(0, I) is the submodule `prior`.

    Terms, nats per example: recon = E_q[-log p(x|z)], kl = KL(q||p), and, when the loss
    is not the plain -ELBO, nelbo = recon + kl (to compare with other VAEs).
    """

    name = "vae"

    def __init__(self, config: VAEConfig, data_shape: tuple[int, int, int], num_classes: int | None = None, label_dim: int = 0):
        super().__init__(config, data_shape, num_classes, label_dim)
        self.logvar_head = nn.Linear(self.mu_head.in_features, config.latent_dim)
        self.kl_schedule = KLSchedule(config.beta, config.warmup_steps, config.capacity_max, config.capacity_steps, config.gamma)
        self.prior = StandardNormalPrior(config.latent_dim)

    def posterior(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x [B, C, H, W] -> (mu, logvar), each [B, latent_dim]."""
        h = self.features(x, y)
        return self.mu_head(h), self.logvar_head(h)

    def elbo_terms(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """(recon, kl, z): batch means in nats per example, and the posterior sample z [B, D]."""
        mu, logvar = self.posterior(x, y)
        z = reparameterize(mu, logvar)
        recon = self.likelihood.nll(self.decoder_output(z, y), x).mean()
        kl = self.prior.kl(mu, logvar).sum(1).mean()
        return recon, kl, z

    def kl_penalty(self, kl: Tensor) -> Tensor:
        """The KL part of the loss for this step (see KLSchedule); a training forward
        moves the schedule's clock by one step."""
        penalty = self.kl_schedule.penalty(kl)
        if self.training:
            self.kl_schedule.advance()
        return penalty

    def forward(self, x: Tensor, y: Tensor | None = None) -> LossOutput:
        recon, kl, _ = self.elbo_terms(x, y)
        return self._output(recon + self.kl_penalty(kl), recon, kl, plain=self.kl_schedule.is_plain_elbo)

    def _output(self, loss: Tensor, recon: Tensor, kl: Tensor, plain: bool, **extra: Tensor) -> LossOutput:
        terms = {"recon": recon.detach(), "kl": kl.detach(), **{k: v.detach() for k, v in extra.items()}}
        if not plain:
            terms["nelbo"] = terms["recon"] + terms["kl"]
        return LossOutput(loss, terms)

    def objective_is_final(self) -> bool:
        return self.kl_schedule.is_done()

    @property
    def can_sample(self) -> bool:
        return True

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: Tensor | None = None) -> Tensor:
        if labels is not None and not self.conditional:
            raise CapabilityError(f"model {self.name!r} is not conditional: it cannot sample a given label")
        return self.decode(self.prior.sample(n, generator), labels)
