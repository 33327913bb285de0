"""What a VAE minimises, beyond the plain negative ELBO: the KL's weight and schedule, a
KL floor (free bits), or the importance-weighted bound (IWAE). Shared by every model of
the family (vae.py and its kin, hvae.py), configured by the same keys.

    -ELBO = E_q[-log p(x|z)] + KL(q(z|x) || p(z))                    (nats per example)
    free bits (Kingma et al., 2016):  KL -> sum_j max(lambda, E_batch KL_j)
    IWAE (Burda et al., 2016):        -L_k = -(logsumexp_i log w_i - log k),
                                      log w_i = log p(x, z_i) - log q(z_i|x), z_i ~ q(z|x)

L_1 is the ELBO estimated with one sample, and L_k rises towards log p(x) as k grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import Tensor

from vaelab.config import ModelSection, at_least
from vaelab.errors import ConfigError
from vaelab.models.base import LogWeights, LossOutput


@dataclass
class ObjectiveConfig(ModelSection):
    """The keys of a VAE's objective (see the module's docstring)."""

    beta: float = at_least(0, default=1.0)  # weight of the KL term (beta-VAE: beta > 1)
    warmup_steps: int = at_least(0, default=0)  # KL warm-up: the weight rises linearly from 0 to beta over these steps
    capacity_max: Optional[float] = at_least(0, default=None)  # capacity form: gamma * |KL - C|, C rising from 0 to this (nats)
    capacity_steps: int = at_least(0, default=100_000)  # steps over which C rises
    gamma: float = at_least(0, default=1000.0)  # weight of |KL - C| in the capacity form
    free_bits: float = at_least(0, default=0.0)  # KL floor, nats per latent dimension (batch mean); 0: none
    iw_samples: int = at_least(1, default=1)  # k of the importance-weighted bound L_k trained on (1: the ELBO)

    def check_across(self, where: str, root: Any) -> None:
        reweighted = self.beta != 1.0 or self.warmup_steps or self.capacity_max is not None or self.free_bits
        if self.iw_samples > 1 and reweighted:
            raise ConfigError(f"{where}iw_samples={self.iw_samples} trains on the importance-weighted bound, which has no "
                              f"KL term to reweight: leave {where}beta=1, warmup_steps=0, capacity_max unset and free_bits=0")


def floored_kl(kl_dims: Tensor | None, kl: Tensor, free_bits: float, dims: int) -> Tensor:
    """The KL the loss sees under free bits, a scalar (nats per example).

    kl_dims: the batch-mean KL of each latent dimension [D] (closed form), or None where the
    KL has no per-dimension form (a VampPrior's Monte Carlo estimate): the floor then holds
    for the whole vector, max(D * lambda, KL). kl: the batch-mean KL, a scalar.
    Dimensions under the floor get no gradient from the KL: they are free to carry
    information up to lambda nats without cost, which keeps them from collapsing.
    Data-parallel, the batch mean is each process's share's.
    """
    if free_bits <= 0:
        return kl
    if kl_dims is None:
        return kl.clamp(min=free_bits * dims)
    return kl_dims.clamp(min=free_bits).sum()


def elbo_output(loss: Tensor, recon: Tensor, kl: Tensor, plain: bool, **extra: Tensor) -> LossOutput:
    """The LossOutput of a VAE-family model: terms recon, kl, the `extra` ones and, when the
    loss is not the plain -ELBO (`plain` False), nelbo = recon + kl to compare with other VAEs."""
    terms = {"recon": recon.detach(), "kl": kl.detach(), **{k: v.detach() for k, v in extra.items()}}
    if not plain:
        terms["nelbo"] = terms["recon"] + terms["kl"]
    return LossOutput(loss, terms)


def importance_weighted_bound(weights: LogWeights) -> Tensor:
    """L_k per example [B] from k samples' weights [B, k]: logsumexp_i log w_i - log k (nats)."""
    log_w = weights.total()
    return torch.logsumexp(log_w, dim=1) - math.log(log_w.shape[1])


def importance_weighted_loss(weights: LogWeights) -> tuple[Tensor, Tensor, Tensor]:
    """(-L_k, recon, kl), batch means in nats per example, from k samples' weights [B, k]:
    the loss, and the k samples' mean -log p(x|z) and log q(z|x) - log p(z), whose sum is
    the one-sample -ELBO's estimate (so the bound's gain is recon + kl - loss)."""
    recon, kl = -weights.log_px_z.mean(), (weights.log_qz - weights.log_pz).mean()
    return -importance_weighted_bound(weights).mean(), recon, kl
