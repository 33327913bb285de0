"""Importance-weighted NLL against a model whose log p(x) is known in closed form; the ELBO terms."""

import itertools
import math

import pytest
import torch

from vaelab.data import ImageDataset
from vaelab.errors import CapabilityError
from vaelab.evaluation.likelihood import (
    bits_per_dim,
    elbo_terms,
    importance_weighted_nll,
)
from linear_gaussian import PPCA
from vaelab.models import AE, CVAE, VAE, AEConfig, CVAEConfig, VAEConfig

SMALL = dict(latent_dim=4, hidden=[32])


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
    # no closed-form KL for N(m, I) here: the ELBO's KL is log q(z|x) - log p(z) at the sample,
    # and with the exact posterior every sample's -log w is -log p(x): the -ELBO is exact too
    data = ImageDataset((x.clamp(0, 1) * 255).to(torch.uint8))
    terms = elbo_terms(model, data)
    assert terms["kl_estimate"] == "monte carlo"
    truth = -model.log_marginal(data.images.double() / 255).mean()
    assert terms["nelbo"] == pytest.approx(float(truth), abs=1e-6)


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
