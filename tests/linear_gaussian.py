"""Linear-Gaussian models whose log p(x) and posterior are known in closed form, for the
likelihood tests (IS-NLL, IWAE, ELBO): probabilistic PCA as a GaussianLatentModel."""

import math

import torch
from torch import nn

from vaelab.models import GaussianLatentModel, LatentPrior
from vaelab.models.priors import StandardNormalPrior


class GaussianNLL:
    """-log N(x; out, s2 I) summed over the data dimensions, [B]."""

    def __init__(self, s2):
        self.s2 = s2

    def nll(self, out, x):
        sq = (x - out).pow(2).flatten(1).sum(1)
        return 0.5 * sq / self.s2 + 0.5 * x[0].numel() * math.log(2 * math.pi * self.s2)


class ShiftedNormal(LatentPrior):
    """p(z) = N(m, I): a prior that is not N(0, I), with its log-density."""

    def __init__(self, mean):
        super().__init__()
        self.mean = mean

    def log_prob(self, z):
        return torch.distributions.Normal(self.mean, 1.0).log_prob(z).sum(-1)

    def sample(self, n, generator=None):
        return self.mean + torch.randn(n, len(self.mean), generator=generator, dtype=self.mean.dtype)


class PPCA(nn.Module, GaussianLatentModel):
    """Probabilistic PCA: z ~ N(m, I_d), x = W z + b + N(0, s^2 I_D); "images" [B, 1, 1, D], float64.

    W has orthogonal columns, so the exact posterior N(M^-1 (W^T (x - b) + s^2 m), s^2 M^-1)
    with M = W^T W + s^2 I is diagonal: the estimator's family contains it. `shift` and
    `inflate` move its mean and scale its variance to make an approximate posterior.
    The prior mean m is 0 (the N(0, I) prior), or `prior_mean`.
    """

    def __init__(self, dims=6, latent_dim=2, s=0.5, shift=0.0, inflate=1.0, prior_mean=None):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        q, _ = torch.linalg.qr(torch.randn(dims, latent_dim, generator=g, dtype=torch.float64))
        self.W = q * torch.linspace(2.0, 1.0, latent_dim, dtype=torch.float64)
        self.b = torch.randn(dims, generator=g, dtype=torch.float64)
        self.s2, self.shift, self.inflate = s * s, shift, inflate
        self.likelihood = GaussianNLL(self.s2)
        self.latent_dim = latent_dim
        self.anchor = nn.Parameter(torch.zeros(0, dtype=torch.float64))  # tells the estimator the device
        self.m = torch.zeros(latent_dim, dtype=torch.float64) if prior_mean is None else prior_mean
        self.prior = StandardNormalPrior(latent_dim) if prior_mean is None else ShiftedNormal(prior_mean)

    def posterior(self, x, y=None):
        m = self.W.pow(2).sum(0) + self.s2  # diagonal of M
        mean = ((x.flatten(1) - self.b) @ self.W + self.s2 * self.m) / m
        return mean + self.shift, torch.log(self.inflate * self.s2 / m).expand_as(mean)

    def decoder_output(self, z, y=None):
        return (z @ self.W.T + self.b).view(len(z), 1, 1, -1)

    def log_marginal(self, x):
        cov = self.W @ self.W.T + self.s2 * torch.eye(len(self.b), dtype=torch.float64)
        return torch.distributions.MultivariateNormal(self.W @ self.m + self.b, cov).log_prob(x.flatten(1))

    def draw(self, n, seed=1):
        g = torch.Generator().manual_seed(seed)
        z = self.m + torch.randn(n, self.latent_dim, generator=g, dtype=torch.float64)
        x = z @ self.W.T + self.b + math.sqrt(self.s2) * torch.randn(n, len(self.b), generator=g, dtype=torch.float64)
        return x.view(n, 1, 1, -1)
