"""The VAE's equations: KL, reparameterization, likelihoods."""

import math

import torch
import torch.nn.functional as F

from vaelab.models.gaussian import kl_to_standard_normal, log_normal, reparameterize
from vaelab.models.likelihoods import Bernoulli, Gaussian


def test_closed_form_kl_matches_monte_carlo():
    torch.manual_seed(0)
    mu = torch.tensor([[0.5, -1.0, 2.0]])
    logvar = torch.tensor([[-1.0, 0.3, 0.0]])
    z = reparameterize(mu.expand(400_000, 3), logvar.expand(400_000, 3))
    # KL = E_q[log q(z) - log p(z)]
    mc = (log_normal(z, mu, logvar) - log_normal(z, torch.zeros(3), torch.zeros(3))).mean()
    closed = kl_to_standard_normal(mu, logvar).sum()
    assert torch.allclose(mc, closed, atol=0.02), (mc, closed)


def test_kl_is_zero_only_at_the_prior():
    assert kl_to_standard_normal(torch.zeros(2, 4), torch.zeros(2, 4)).abs().max() == 0
    assert (kl_to_standard_normal(torch.full((1, 4), 0.1), torch.zeros(1, 4)) > 0).all()
    assert (kl_to_standard_normal(torch.zeros(1, 4), torch.full((1, 4), 0.1)) > 0).all()


def test_reparameterization_sends_gradients_to_mu_and_logvar():
    mu = torch.randn(8, 5, requires_grad=True)
    logvar = torch.randn(8, 5, requires_grad=True)
    generator = torch.Generator().manual_seed(1)
    z = reparameterize(mu, logvar, generator)
    z.pow(2).sum().backward()
    eps = torch.randn(8, 5, generator=torch.Generator().manual_seed(1))
    sigma = torch.exp(0.5 * logvar.detach())
    # d/dmu z^2 = 2z ; d/dlogvar z^2 = 2z * eps * sigma / 2
    assert torch.allclose(mu.grad, 2 * z.detach())
    assert torch.allclose(logvar.grad, z.detach() * eps * sigma, atol=1e-6)


def test_reparameterized_samples_have_the_posterior_moments():
    mu, logvar = torch.tensor([1.5]), torch.tensor([math.log(0.25)])
    z = reparameterize(mu.expand(200_000, 1), logvar.expand(200_000, 1), torch.Generator().manual_seed(0))
    assert abs(z.mean() - 1.5) < 0.01 and abs(z.std() - 0.5) < 0.01


def test_gaussian_nll_is_squared_error_over_2c_plus_constant():
    x = torch.rand(4, 1, 5, 5)
    out = torch.randn(4, 1, 5, 5)
    for c in (0.1, 1.0, 2.5):
        nll = Gaussian(variance=c).nll(out, x)
        sq = (x - out).pow(2).flatten(1).sum(1)
        assert torch.allclose(nll, sq / (2 * c) + 25 / 2 * math.log(2 * math.pi * c), atol=1e-5)
        # and it is the density of N(mean, cI)
        density = torch.distributions.Normal(out, math.sqrt(c)).log_prob(x).flatten(1).sum(1)
        assert torch.allclose(nll, -density, atol=1e-4)


def test_learned_gaussian_variance_moves_to_the_mean_squared_error():
    x = torch.rand(64, 1, 4, 4)
    out = torch.full_like(x, 0.5)  # mean 0.5 everywhere
    lik = Gaussian(variance=1.0, learned=True)
    opt = torch.optim.Adam(lik.parameters(), lr=0.05)
    for _ in range(500):
        opt.zero_grad()
        lik.nll(out, x).mean().backward()
        opt.step()
    mse = (x - 0.5).pow(2).mean()
    assert torch.allclose(lik.variance, mse, rtol=0.05)  # argmin_c of the NLL is the MSE


def test_bce_is_the_bernoulli_log_likelihood():
    x = torch.bernoulli(torch.full((6, 1, 3, 3), 0.4))
    logits = torch.randn(6, 1, 3, 3)
    expected = -torch.distributions.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(Bernoulli().nll(logits, x), expected, atol=1e-5)
    assert torch.allclose(Bernoulli().mean(logits), torch.sigmoid(logits))
    assert torch.allclose(
        Bernoulli().nll(logits, x), F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").flatten(1).sum(1), atol=1e-4
    )
