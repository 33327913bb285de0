"""Diagonal Gaussians N(mu, diag(exp(logvar))): the posterior q(z|x), the prior N(0, I),
and the conditional priors p(z_i | z_{i+1}) of a hierarchy."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I): a sample whose gradient reaches mu and logvar."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per dimension, [B, D] (nats).

    KL_j = 0.5 * (mu_j^2 + exp(logvar_j) - 1 - logvar_j). Sum over j for the example's KL.
    Computed in float32 even when the encoder ran in half precision (autocast).
    """
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def log_normal(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag(exp(logvar))) summed over the last dimension, [...] (nats)."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def kl_normal(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """KL(N(mu_q, diag exp(logvar_q)) || N(mu_p, diag exp(logvar_p))) per dimension, [..., D] (nats).

    KL_j = 0.5 * (logvar_p - logvar_q + (exp(logvar_q) + (mu_q - mu_p)^2) / exp(logvar_p) - 1);
    with mu_p = 0, logvar_p = 0 it is kl_to_standard_normal.
    """
    mu_q, logvar_q, mu_p, logvar_p = mu_q.float(), logvar_q.float(), mu_p.float(), logvar_p.float()
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp() - 1.0)
