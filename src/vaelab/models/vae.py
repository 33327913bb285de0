"""Variational autoencoder (Kingma & Welling, 2014), with beta-VAE weights and schedules,
free bits, the IWAE bound and a choice of prior.

q(z|x) = N(mu(x), diag(sigma^2(x))) from two heads on the encoder's features,
z = mu + sigma * eps (the reparameterization trick), p(z) = N(0, I) or a VampPrior. The
negative ELBO, in nats per example, is

    -ELBO = E_q[-log p(x|z)] + KL(q(z|x) || p(z))      (one sample of z per example)

with the KL in closed form for N(0, I), and estimated by one sample, log q(z|x) - log p(z),
for a VampPrior (no closed form). The training loss replaces KL by the schedule's
penalty: beta_t * KL (beta-VAE, KL warm-up) or gamma * |KL - C_t| (capacity), of the
free-bits-floored KL; or, with model.iw_samples = k > 1, is -L_k (objective.py). With
the defaults it is the -ELBO itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from vaelab.config import at_least, one_of
from vaelab.errors import CapabilityError, ConfigError
from vaelab.models.ae import AE, AEConfig
from vaelab.models.base import GaussianLatentModel, HasCritic, LossOutput
from vaelab.models.gaussian import log_normal, reparameterize
from vaelab.models.objective import ObjectiveConfig, elbo_output, importance_weighted_loss
from vaelab.models.priors.standard_normal import StandardNormalPrior
from vaelab.models.priors.vamp import VampPrior
from vaelab.models.schedules import KLSchedule
from vaelab.models.sharpness import SharpnessConfig, Sharpener, critic_parameters, sharpening_terms


@dataclass
class VAEConfig(ObjectiveConfig, SharpnessConfig, AEConfig):
    name: str = "vae"
    prior: str = one_of("normal", "vamp", default="normal")  # p(z): N(0, I) | VampPrior, a mixture of posteriors
    pseudo_inputs: int = at_least(1, default=500)  # VampPrior: K, the learned pseudo-inputs

    # A model whose loss is built on one posterior sample against N(0, I) (an MMD to it, a
    # KL decomposition, a discriminator on its codes) sets this False: it then refuses
    # model.iw_samples > 1 and another model.prior. Not a config key (no annotation).
    takes_iwae_and_priors = True

    def check_across(self, where: str, root: Any) -> None:
        if not self.takes_iwae_and_priors and (self.iw_samples > 1 or self.prior != "normal"):
            raise ConfigError(f"{self.name} builds its loss on one sample against N(0, I): it takes neither "
                              f"{where}iw_samples > 1 nor another {where}prior")
        AEConfig.check_across(self, where, root)
        ObjectiveConfig.check_across(self, where, root)
        SharpnessConfig.check_across(self, where, root)
        if self.sharpened and self.iw_samples > 1:
            raise ConfigError(f"the sharpening losses add to the one-sample ELBO: leave {where}iw_samples at 1")


@dataclass
class BetaVAEConfig(VAEConfig):
    """A VAE whose KL weighs beta = 4 by default (Higgins et al., 2017)."""

    name: str = "beta-vae"
    beta: float = at_least(0, default=4.0)


class ELBOTerms(NamedTuple):
    """What one posterior sample per example gives (VAE.elbo_terms): recon and kl, batch means
    in nats per example; z [B, D] the sample; kl_dims [D] the batch-mean KL of each dimension,
    or None where the prior has no closed form (kl is then the one-sample estimate
    log q(z|x) - log p(z)); mu, logvar [B, D] the posterior; out [B, C, H, W] the
    decoder's output (the likelihood's parameters)."""

    recon: Tensor
    kl: Tensor
    z: Tensor
    kl_dims: Tensor | None
    mu: Tensor
    logvar: Tensor
    out: Tensor


class VAE(AE, GaussianLatentModel, HasCritic):
    """An AE whose encoder also has a log-variance head, trained on the (weighted) negative ELBO.
    Its prior p(z), N(0, I) or a VampPrior (model.prior), is the submodule `prior`.

    Terms, nats per example: recon = E_q[-log p(x|z)], kl = KL(q||p), and, when the loss
    is not the plain -ELBO, nelbo = recon + kl (to compare with other VAEs); with the
    sharpening losses (models/sharpness.py, model.perceptual_weight, adversarial_weight)
    perceptual, adversarial and critic.
    """

    name = "vae"
    critic_betas = (0.5, 0.9)

    def __init__(self, config: VAEConfig, data_shape: tuple[int, int, int], num_classes: int | None = None,
                 label_dim: int = 0, *, encoder: nn.Module | None = None, decoder: nn.Module | None = None,
                 takes_decoder: bool = True):
        super().__init__(config, data_shape, num_classes, label_dim, encoder=encoder, decoder=decoder,
                         takes_decoder=takes_decoder)
        self.logvar_head = nn.Linear(self.mu_head.in_features, config.latent_dim)
        self.kl_schedule = KLSchedule.of(config, config.latent_dim)
        self.sharpener = Sharpener(config, self.data_shape) if config.sharpened else None
        self.critic_lr = config.critic_lr
        if config.prior == "vamp":
            if self.conditional or label_dim:
                raise ConfigError("model.prior=vamp is for unconditional models: its pseudo-inputs have no labels")
            self.prior = VampPrior(self.posterior, config.pseudo_inputs, self.data_shape)
        else:
            self.prior = StandardNormalPrior(config.latent_dim)

    def critic_parameters(self) -> list[nn.Parameter]:
        return critic_parameters(self.sharpener)

    def posterior(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x [B, C, H, W] -> (mu, logvar), each [B, latent_dim]."""
        h = self.features(x, y)
        return self.mu_head(h), self.logvar_head(h)

    def elbo_terms(self, x: Tensor, y: Tensor | None = None) -> "ELBOTerms":
        """One posterior sample's ELBO terms for a batch (ELBOTerms)."""
        mu, logvar = self.posterior(x, y)
        z = reparameterize(mu, logvar)
        out = self.decoder_output(z, y)
        recon = self.likelihood.nll(out, x).mean()
        if isinstance(self.prior, StandardNormalPrior):
            per_dim = self.prior.kl(mu, logvar)  # [B, D]
            return ELBOTerms(recon, per_dim.sum(1).mean(), z, per_dim.mean(0), mu, logvar, out)
        kl = (log_normal(z, mu, logvar) - self.prior.log_prob(z)).mean()
        return ELBOTerms(recon, kl, z, None, mu, logvar, out)

    def kl_penalty(self, terms: "ELBOTerms") -> Tensor:
        """The KL part of the loss for this step (KLSchedule.loss_term: weight, schedule, free bits)."""
        return self.kl_schedule.loss_term(terms.kl, terms.kl_dims, self.training)

    def forward(self, x: Tensor, y: Tensor | None = None) -> LossOutput:
        if self.config.iw_samples > 1:
            return self._importance_weighted(x, y)
        t = self.elbo_terms(x, y)
        sharp = sharpening_terms(self.sharpener, x, t.out, self.likelihood, t.recon, self.decoder)
        loss = t.recon + self.kl_penalty(t) + sum(sharp.values())
        return elbo_output(loss, t.recon, t.kl, plain=self.kl_schedule.is_plain_elbo and not sharp, **sharp)

    def _importance_weighted(self, x: Tensor, y: Tensor | None) -> LossOutput:
        """loss = -L_k (k = iw_samples); recon and kl are the k samples' means (their sum,
        nelbo, is the one-sample -ELBO's estimate), so the bound's gain is nelbo - loss."""
        eps = torch.randn(len(x), self.config.iw_samples, self.latent_dim, device=x.device)  # [B, k, D]
        loss, recon, kl = importance_weighted_loss(self.log_weights(x, y, eps))
        return elbo_output(loss, recon, kl, plain=False)

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
