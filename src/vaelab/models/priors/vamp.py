"""The VampPrior (Tomczak & Welling, 2018): p(z) a mixture of the encoder's own posteriors
at K learned pseudo-inputs u_1..u_K,

    p(z) = (1/K) sum_k q(z | u_k),    q(z | u) = N(mu(u), diag exp(logvar(u))),

the prior that a VAE's ELBO would choose (the aggregate posterior), approximated by K
points instead of the whole training set. It has no closed-form KL from q(z|x): the VAE
estimates KL(q(z|x) || p(z)) by one sample, log q(z|x) - log p(z).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from vaelab.models.base import LatentPrior
from vaelab.models.gaussian import log_normal


class VampPrior(LatentPrior):
    """p(z) over z [..., D] from `posterior`, the model's x -> (mu, logvar) map.

    posterior: the model's bound method (not a submodule: the model owns the encoder, and
        its state_dict holds it once). num_pseudo: K. data_shape: (C, H, W) of a pseudo-input.
    The pseudo-inputs are sigmoid(pseudo_logits), images in (0, 1) like the data, and start
    grey (logits of N(0, 0.01^2): 0.5 +- 0.0025): they are trained with the model, by the same loss.
    Every call re-encodes them ([K, C, H, W] through the encoder): exact while training
    moves the encoder, and cheap next to decoding (K = 500 adds one encoder pass of 500
    images per step).
    """

    def __init__(self, posterior: Callable[[Tensor], tuple[Tensor, Tensor]], num_pseudo: int, data_shape: tuple[int, ...]):
        super().__init__()
        self.posterior = posterior
        self.pseudo_logits = nn.Parameter(0.01 * torch.randn(num_pseudo, *data_shape))

    def pseudo_inputs(self) -> Tensor:
        """u [K, C, H, W] in (0, 1)."""
        return torch.sigmoid(self.pseudo_logits)

    def components(self) -> tuple[Tensor, Tensor]:
        """The K mixture components' (mu, logvar), each [K, D]."""
        return self.posterior(self.pseudo_inputs())

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) = logsumexp_k log N(z; mu_k, var_k) - log K: [..., D] -> [...] (nats)."""
        mu, logvar = self.components()
        per_component = log_normal(z[..., None, :].float(), mu.float(), logvar.float())  # [..., K]
        return torch.logsumexp(per_component, dim=-1) - math.log(mu.shape[0])

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws [n, D]: a component k uniformly, then z ~ q(z | u_k) (noise on the generator's device, the CPU by default)."""
        mu, logvar = self.components()
        where = generator.device if generator is not None else "cpu"
        k = torch.randint(mu.shape[0], (n,), generator=generator, device=where)
        eps = torch.randn(n, mu.shape[1], generator=generator, device=where)
        k, eps = k.to(mu.device), eps.to(mu.device)
        return mu[k] + torch.exp(0.5 * logvar[k]) * eps
