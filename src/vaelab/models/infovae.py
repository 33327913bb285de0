"""InfoVAE / MMD-VAE (Zhao et al., 2019): match the aggregate posterior q(z) to the prior.

    loss = E_q[-log p(x|z)] + lambda * MMD^2(q(z), N(0, I)) + beta * KL(q(z|x) || p(z))

MMD^2 is estimated on the batch's posterior samples against as many prior samples.
beta plays the paper's (1 - alpha) and is 0 by default (the MMD-VAE); KL warm-up and
the other schedule options of the VAE apply to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from vaelab.config import above, at_least, one_of
from vaelab.models.base import LossOutput
from vaelab.models.mmd import KERNELS, mmd
from vaelab.models.objective import elbo_output
from vaelab.models.vae import VAE, VAEConfig


@dataclass
class InfoVAEConfig(VAEConfig):
    name: str = "infovae"
    beta: float = at_least(0, default=0.0)  # weight of the per-example KL, the paper's (1 - alpha)
    mmd_weight: float = at_least(0, default=1000.0)  # lambda
    kernel: str = one_of(*KERNELS, default="imq")  # imq (inverse multiquadratic) | rbf
    kernel_scale: float = above(0, default=1.0)  # kernel width C = 2 * latent_dim * kernel_scale
    takes_iwae_and_priors = False  # the MMD matches q(z) to N(0, I)
    takes_sharpness = False  # its forward builds its own loss (sharpening: vae, beta-vae, cvae, vqvae, vqvae2)


class InfoVAE(VAE):
    name = "infovae"

    def forward(self, x: Tensor, y: Tensor | None = None) -> LossOutput:
        t = self.elbo_terms(x, y)
        prior = torch.randn_like(t.z)
        divergence = mmd(t.z, prior, self.config.kernel, self.config.kernel_scale)
        loss = t.recon + self.config.mmd_weight * divergence + self.kl_penalty(t)
        return elbo_output(loss, t.recon, t.kl, plain=False, mmd=divergence)
