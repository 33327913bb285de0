"""beta-TCVAE (Chen et al., 2018): split the ELBO's KL into three parts and weigh the total
correlation, the part that ties latent dimensions together, more than the rest.

With q(z) = E_x[q(z|x)] the aggregate posterior and q(z_j) its marginals,

    E_x[KL(q(z|x) || p(z))] = I_q(x; z)                       index-code mutual information
                            + KL(q(z) || prod_j q(z_j))        total correlation (TC)
                            + sum_j KL(q(z_j) || p(z_j))       dimension-wise KL

    loss = recon + alpha * MI + beta * TC + gamma * dimension-wise KL      (nats per example)

log q(z) and log q(z_j) are estimated on the batch (Chen et al., section 3 and
appendix C): for z_i from example i of a batch of M drawn from N training examples,

    log q(z_i)   ~ logsumexp_m [log q(z_i | x_m) + log w_im]
    log q(z_ij)  ~ logsumexp_m [log q(z_ij | x_m) + log w_im]

    mws  (minibatch-weighted sampling)     w_im = 1 / (N M) for every m
    mss  (minibatch stratified sampling)   w_ii = 1 / N, one more m: (N - M + 1) / (N (M - 1)),
                                           the others 1 / (M - 1)

mws is the paper's main estimator and the default. mss weighs z_i's own term 1 / N
(x_i is one example in N) instead of 1 / (N M), and the others 1 / (M - 1): each row of
weights sums to one. Neither escapes narrow posteriors: when q(z | x_i) is much narrower
than the spread of the batch, z_i has density almost only under its own q(z | x_i), so
log q(z_i) is mostly log q(z_i | x_i) plus a constant, and the TC penalty then widens the
posteriors (like a larger KL weight) more than it decorrelates the dimensions. Larger
batches (Chen et al. use 2048) put more neighbours within reach.

Either way the three estimates telescope: their sum is the batch mean of log q(z|x) -
log p(z), the one-sample estimate of the KL. N sets the weights, so the run gives the
model its training set's size (TrainingSetSized).
Data-parallel, M is each process's share of the batch (the estimate is per process, and
more biased for small shares).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from vaelab.config import at_least, one_of
from vaelab.errors import ConfigError
from vaelab.models.base import LossOutput, TrainingSetSized
from vaelab.models.objective import elbo_output
from vaelab.models.vae import VAE, VAEConfig


@dataclass
class BetaTCVAEConfig(VAEConfig):
    name: str = "beta-tcvae"
    mi_weight: float = at_least(0, default=1.0)  # alpha, on the index-code mutual information
    tc_weight: float = at_least(0, default=6.0)  # beta, on the total correlation
    dim_kl_weight: float = at_least(0, default=1.0)  # gamma, on the dimension-wise KL
    tc_estimator: str = one_of("mws", "mss", default="mws")  # how q(z) is estimated on the batch (see above)

    takes_iwae_and_priors = False  # the decomposition is of one sample's KL to N(0, I)
    takes_sharpness = False  # its forward builds its own loss (sharpening: vae, beta-vae, cvae, vqvae, vqvae2)

    def check_across(self, where: str, root: Any) -> None:
        super().check_across(where, root)
        if self.beta != 1.0 or self.capacity_max is not None or self.free_bits:
            raise ConfigError(f"beta-tcvae weighs the KL's three parts by {where}mi_weight, tc_weight and dim_kl_weight "
                              f"against N(0, I): leave {where}beta=1, capacity_max and free_bits alone")


def log_importance_weights(m: int, n: Tensor, estimator: str) -> Tensor:
    """log w_im [M, M] of the estimator 'mws' or 'mss' (see the module doc); n: N, a tensor."""
    n = n.float()
    if estimator == "mws" or m < 2:
        return (-(n * m).log()).expand(m, m)
    log_w = torch.full((m, m), -math.log(m - 1), device=n.device).to(n.dtype)
    index = torch.arange(m, device=n.device)
    log_w[index, index] = -n.log()
    log_w[index, (index + 1) % m] = ((n - m + 1) / (n * (m - 1))).log()  # the stratum's remainder
    return log_w


def kl_decomposition(z: Tensor, mu: Tensor, logvar: Tensor, n: int | Tensor, estimator: str = "mws") -> dict[str, Tensor]:
    """The batch's estimates of MI, TC and dimension-wise KL (scalars, nats per example).

    z, mu, logvar: [M, D], z_i ~ q(z | x_i); n: the training set's size N (a tensor stays on
    the device: no host sync per step); estimator: 'mss' or 'mws'.
    """
    m = z.shape[0]
    z, mu, logvar = z.float(), mu.float(), logvar.float()
    log_w = log_importance_weights(m, torch.as_tensor(n, device=z.device), estimator)  # (M, M)
    # log q(z_id | x_jd) for every pair (i, j) and dimension d: [M, M, D]
    pairs = -0.5 * (math.log(2 * math.pi) + logvar[None] + (z[:, None] - mu[None]).pow(2) / logvar[None].exp())
    log_q_given_x = pairs.diagonal(dim1=0, dim2=1).sum(0)  # log q(z_i | x_i): [M]
    log_qz = torch.logsumexp(pairs.sum(2) + log_w, dim=1)  # [M]
    log_prod_qzj = torch.logsumexp(pairs + log_w[:, :, None], dim=1).sum(1)  # [M]
    log_pz = -0.5 * (math.log(2 * math.pi) + z.pow(2)).sum(1)  # [M]
    return {"mi": (log_q_given_x - log_qz).mean(), "tc": (log_qz - log_prod_qzj).mean(),
            "dim_kl": (log_prod_qzj - log_pz).mean()}


class BetaTCVAE(VAE, TrainingSetSized):
    """A VAE (N(0, I) prior) trained on recon + alpha MI + beta TC + gamma dimension-wise KL.
    Terms: recon, kl (closed form), mi, tc, dim_kl, nelbo."""

    name = "beta-tcvae"

    def __init__(self, config: BetaTCVAEConfig, data_shape: tuple[int, int, int], num_classes: int | None = None,
                 *, encoder: nn.Module | None = None, decoder: nn.Module | None = None):
        super().__init__(config, data_shape, num_classes, encoder=encoder, decoder=decoder)
        self.register_buffer("training_set_size", torch.tensor(1, dtype=torch.long))

    def set_training_set_size(self, n: int) -> None:
        self.training_set_size.fill_(n)

    def forward(self, x: Tensor, y: Tensor | None = None) -> LossOutput:
        t = self.elbo_terms(x, y)
        parts = kl_decomposition(t.z, t.mu, t.logvar, self.training_set_size, self.config.tc_estimator)
        c = self.config
        # KL warm-up, when set, scales all three: the schedule's weight, read as its penalty of 1
        weight = self.kl_schedule.loss_term(torch.ones((), device=x.device), None, self.training)
        penalty = c.mi_weight * parts["mi"] + c.tc_weight * parts["tc"] + c.dim_kl_weight * parts["dim_kl"]
        return elbo_output(t.recon + weight * penalty, t.recon, t.kl, plain=False, **parts)
