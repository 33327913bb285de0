"""Importance-weighted NLL against a model whose log p(x) is known in closed form; the ELBO terms."""

import itertools
import math

import pytest
import torch
from torch import nn

from vaelab.data import ImageDataset
from vaelab.errors import CapabilityError
from vaelab.evaluation.likelihood import (
    bits_per_dim,
    elbo_terms,
    importance_weighted_nll,
)
from vaelab.models import AE, CVAE, VAE, AEConfig, CVAEConfig, GaussianLatentModel, LatentPrior, VAEConfig
from vaelab.models.priors import StandardNormalPrior

SMALL = dict(latent_dim=4, hidden=[32])


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


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_with_the_exact_posterior_every_weight_is_equal_and_the_estimate_is_exact():
    model = PPCA()
    x = model.draw(20)
    truth = -model.log_marginal(x)
    for k in (1, 5):
        nll = importance_weighted_nll(model, x, k=k, generator=gen())
        assert torch.allclose(nll, truth, atol=1e-9, rtol=0)


def test_the_estimate_uses_the_model_s_own_prior():
    """With a prior N(m, I), m != 0, the estimate is exact only if log p(z) is the model's:
    under N(0, I) instead it would be off by log N(z; m, I) - log N(z; 0, I)."""
    model = PPCA(prior_mean=torch.tensor([1.5, -2.0], dtype=torch.float64))
    x = model.draw(20)
    nll = importance_weighted_nll(model, x, k=5, generator=gen())
    assert torch.allclose(nll, -model.log_marginal(x), atol=1e-9, rtol=0)
    with pytest.raises(CapabilityError, match="N\\(0, I\\) prior"):
        elbo_terms(model, ImageDataset((x.clamp(0, 1) * 255).to(torch.uint8)))  # its KL is N(0, I)'s closed form


def test_with_an_approximate_posterior_the_estimate_falls_towards_the_truth_as_k_grows():
    model = PPCA(shift=0.2, inflate=2.0)
    x = model.draw(50)
    truth = float(-model.log_marginal(x).mean())
    means = [float(importance_weighted_nll(model, x, k=k, generator=gen()).mean()) for k in (1, 10, 100, 1000)]
    assert means[0] - truth > 0.1  # k = 1 is the ELBO: looser
    assert all(a > b for a, b in itertools.pairwise(means)), means
    assert abs(means[-1] - truth) < 0.01, (means, truth)


def test_chunking_and_batching_do_not_change_the_estimate():
    model = PPCA(shift=0.2, inflate=2.0)
    x = model.draw(10)
    whole = importance_weighted_nll(model, x, k=100, batch_size=10, chunk_size=100, generator=gen())
    pieces = importance_weighted_nll(model, x, k=100, batch_size=3, chunk_size=7, generator=gen())
    assert torch.allclose(whole, pieces, atol=1e-10, rtol=0)


def test_on_a_vae_the_bound_is_tighter_than_the_elbo_and_labels_reach_conditional_models():
    torch.manual_seed(0)
    x = (torch.rand(64, 1, 8, 8) > 0.5).to(torch.uint8) * 255
    data = ImageDataset(x, torch.randint(0, 3, (64,)))
    vae = VAE(VAEConfig(**SMALL), (1, 8, 8))
    nll = importance_weighted_nll(vae, x, k=64, generator=gen())
    terms = elbo_terms(vae, data)
    assert nll.shape == (64,) and torch.isfinite(nll).all()
    assert float(nll.mean()) < terms["nelbo"]
    assert terms["nelbo"] == pytest.approx(terms["recon"] + terms["kl"])
    assert elbo_terms(vae, data) == terms  # seeded: the same numbers twice
    cvae = CVAE(CVAEConfig(**SMALL), (1, 8, 8), num_classes=3)
    assert importance_weighted_nll(cvae, x[:5], data.labels[:5], k=4).shape == (5,)
    with pytest.raises(CapabilityError):
        importance_weighted_nll(AE(AEConfig(**SMALL), (1, 8, 8)), x, k=4)


def test_bits_per_dim():
    assert bits_per_dim(784 * math.log(2), 784) == pytest.approx(1.0)
    assert bits_per_dim(torch.tensor([1.0, 3.0]) * 10 * math.log(2), 10) == pytest.approx(2.0)
    assert bits_per_dim(0.0, 3072, levels=256) == pytest.approx(8.0)  # log2(256) per dimension
