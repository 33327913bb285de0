"""The standard normal prior p(z) = N(0, I) of the VAE family, and the checks that need it."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from vaelab.errors import CapabilityError
from vaelab.models.base import GaussianLatentModel, LatentPrior, model_name, require
from vaelab.models.gaussian import kl_to_standard_normal


class StandardNormalPrior(LatentPrior):
    """p(z) = N(0, I) over z [..., D]. No parameters, nothing in a checkpoint.

    Besides log p(z) it has the closed-form KL from a diagonal Gaussian posterior, which
    the ELBO, the KL per dimension and the manifold grid (its quantiles) rely on.
    """

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        # not saved: only here so that the prior knows its device (it moves with .to())
        self.register_buffer("loc", torch.zeros(latent_dim), persistent=False)

    def log_prob(self, z: Tensor) -> Tensor:
        """log N(z; 0, I) = -1/2 sum_j (log 2 pi + z_j^2): [..., D] -> [...] (nats)."""
        return -0.5 * (math.log(2 * math.pi) + z.pow(2)).sum(-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I), [n, D] on the prior's device (drawn on the generator's device, the CPU by default)."""
        where = generator.device if generator is not None else "cpu"
        return torch.randn(n, self.latent_dim, generator=generator, device=where).to(self.loc.device)

    def kl(self, mu: Tensor, logvar: Tensor) -> Tensor:
        """KL(N(mu, diag exp(logvar)) || N(0, I)) per dimension, [B, D] (nats)."""
        return kl_to_standard_normal(mu, logvar)


def has_standard_normal_prior(model) -> bool:
    """True for a GaussianLatentModel whose prior is N(0, I)."""
    return isinstance(model, GaussianLatentModel) and isinstance(model.prior, StandardNormalPrior)


def require_standard_normal_prior(model, what: str) -> None:
    """Raise CapabilityError unless `model` is a GaussianLatentModel whose prior is N(0, I):
    for the closed forms (KL, quantiles) that hold for that prior only."""
    require(model, GaussianLatentModel, what)
    if not has_standard_normal_prior(model):
        raise CapabilityError(f"{what} uses closed forms of the N(0, I) prior; model {model_name(model)!r} "
                              f"has another prior ({type(model.prior).__name__})")
