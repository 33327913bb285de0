"""The hierarchical (ladder) VAE: exact on a linear-Gaussian two-layer model, its closed-form
KLs agreeing with the Monte Carlo log q - log p, and what it shows as a latent-vector model."""

import math

import pytest
import torch
from torch import nn

import vaelab
from vaelab.config import compose
from vaelab.data import load_dataset
from vaelab.errors import ConfigError
from vaelab.evaluation import importance_weighted_nll
from vaelab.models import HVAE, HVAEConfig, config_class

P = 5  # data dimensions: "images" [B, 1, 1, P]
A, S1, SIGMA2 = 1.5, 0.6, 0.3  # z_1 | z_2 ~ N(A z_2, S1^2);  x | z_1 ~ N(w z_1 + b, SIGMA2 I)


class Unflatten(nn.Module):
    def forward(self, h):
        return h.view(len(h), 1, 1, P)


def linear_gaussian_hvae(shift=0.0, inflate=1.0) -> tuple[HVAE, torch.Tensor, torch.Tensor]:
    """A two-layer HVAE (one dimension per layer) whose networks are the linear maps of
        z_2 ~ N(0, 1),  z_1 | z_2 ~ N(A z_2, S1^2),  x | z_1 ~ N(w z_1 + b, SIGMA2 I),
    with messages set so that the ladder's posterior is the exact one (shift and inflate
    move the top layer's away from it). Returns the model (float64), w and b."""
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(P, generator=g, dtype=torch.float64), torch.randn(P, generator=g, dtype=torch.float64)
    cfg = HVAEConfig(hidden=[4], latent_dims=[1, 1], ladder_hidden=4, likelihood="gaussian", variance=SIGMA2)
    model = HVAE(cfg, (1, 1, P)).double()
    model.encoder, model.up[0] = nn.Flatten(), nn.Identity()  # d_1 = d_2 = x
    model.decoder = nn.Sequential(nn.Linear(1, P), Unflatten()).double()
    model.priors[0] = nn.Linear(1, 2).double()
    model.messages = nn.ModuleList([nn.Linear(P, 2), nn.Linear(P, 2)]).double()
    ww = float(w @ w)
    var_z1 = A * A + S1 * S1  # the marginal of z_1
    cov_x = var_z1 * torch.outer(w, w) + SIGMA2 * torch.eye(P, dtype=torch.float64)
    c = A * w @ torch.linalg.inv(cov_x)  # E[z_2 | x] = c (x - b): Cov(z_2, x) = A w^T
    var_top = 1.0 - float(c @ (A * w))
    with torch.no_grad():
        model.decoder[0].weight.copy_(w[:, None]), model.decoder[0].bias.copy_(b)
        model.priors[0].weight.copy_(torch.tensor([[A], [0.0]])), model.priors[0].bias.copy_(torch.tensor([0.0, math.log(S1 * S1)]))
        # layer 1's message: p(x | z_1) as a function of z_1, N(w^T (x - b) / |w|^2, SIGMA2 / |w|^2)
        m1 = model.messages[0]
        m1.weight.copy_(torch.stack([w / ww, torch.zeros(P, dtype=torch.float64)]))
        m1.bias.copy_(torch.tensor([float(-w @ b) / ww, math.log(SIGMA2 / ww)]))
        # the top's message is its exact posterior p(z_2 | x) (moved by shift, inflate)
        m2 = model.messages[1]
        m2.weight.copy_(torch.stack([c, torch.zeros(P, dtype=torch.float64)]))
        m2.bias.copy_(torch.tensor([float(-c @ b) + shift, math.log(inflate * var_top)]))
    return model.eval(), w, b, cov_x


def draw(w, b, n, seed=1):
    g = torch.Generator().manual_seed(seed)
    z2 = torch.randn(n, generator=g, dtype=torch.float64)
    z1 = A * z2 + S1 * torch.randn(n, generator=g, dtype=torch.float64)
    x = z1[:, None] * w + b + math.sqrt(SIGMA2) * torch.randn(n, P, generator=g, dtype=torch.float64)
    return x.view(n, 1, 1, P)


def test_the_is_nll_is_exact_on_a_linear_gaussian_two_layer_model():
    """With the exact posterior every importance weight is p(x): the estimate is log p(x)
    for any k, which checks the ladder's precision-weighted posterior and every log-density."""
    model, w, b, cov_x = linear_gaussian_hvae()
    x = draw(w, b, 30)
    truth = -torch.distributions.MultivariateNormal(b, cov_x).log_prob(x.flatten(1))
    for k in (1, 7):
        nll = importance_weighted_nll(model, x, k=k, generator=torch.Generator().manual_seed(0), progress=False)
        assert torch.allclose(nll.double(), truth, atol=1e-4), (nll - truth).abs().max()


def test_with_an_approximate_top_posterior_the_estimate_falls_towards_the_truth():
    model, w, b, cov_x = linear_gaussian_hvae(shift=0.4, inflate=2.0)
    x = draw(w, b, 300)
    truth = float(-torch.distributions.MultivariateNormal(b, cov_x).log_prob(x.flatten(1)).mean())
    est = [float(importance_weighted_nll(model, x, k=k, generator=torch.Generator().manual_seed(0), progress=False).mean())
           for k in (1, 10, 100)]
    assert est[0] > est[1] > est[2] > truth - 1e-3, (est, truth)
    assert est[0] - truth > 0.1 and est[2] - truth < 0.2 * (est[0] - truth)


def test_the_closed_form_kls_are_the_mean_of_log_q_minus_log_p():
    """The loss's per-layer KLs (closed form at the sampled z above) and the importance
    weights' log q - log p must agree in expectation."""
    torch.manual_seed(0)
    model = HVAE(HVAEConfig(hidden=[16], latent_dims=[3, 2], ladder_hidden=8), (1, 4, 4)).double().eval()
    x = torch.rand(2, 1, 4, 4, dtype=torch.float64).bernoulli()
    eps = torch.randn(2, 100_000, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        _, w, kls = model.top_down(model.bottom_up(x), eps)
        monte_carlo = (w.log_qz - w.log_pz)  # [B, S]
        closed = sum(kl.sum(-1) for kl in kls)  # [B, S]: each layer's KL given the z above
    se = float(monte_carlo.std()) / math.sqrt(eps.shape[1])
    assert torch.allclose(monte_carlo.mean(1), closed.double().mean(1), atol=5 * se)


def test_a_tiny_run_learns_and_every_tool_works_on_it(tmp_path):
    cfg = compose({"data": {"name": "shapes", "image_size": 16, "num_samples": 256, "binarize": "static"},
                   "model": {"name": "hvae", "hidden": [64], "latent_dims": [8, 4], "ladder_hidden": 32},
                   "train": {"epochs": 5, "batch_size": 32, "lr": 3e-3, "progress": False}}, [], config_class)
    result = vaelab.train(cfg, tmp_path / "run")
    losses = [r["train/loss"] for r in result.history]
    assert losses[-1] < losses[0] - 20
    assert {"train/kl1", "train/kl2"} <= set(result.history[-1])
    model = vaelab.load(tmp_path / "run")
    x = load_dataset(cfg.data).train.images[:6].float() / 255
    assert model.encode(x).shape == (6, 4) and model.decode(model.encode(x)).shape == (6, 1, 16, 16)
    assert model.reconstruct(x).shape == (6, 1, 16, 16) and model.sample(3).shape == (3, 1, 16, 16)
    with pytest.raises(ConfigError, match="latent_dims"):
        compose({"model": {"name": "hvae"}}, ["model.latent_dims=[4,0]"], config_class)


def test_log_variances_stay_bounded():
    """A layer prior that shrinks to a point overflows log p(z_1 | z_2) (a NaN after 240 MNIST
    epochs): every log-variance is clamped to [-10, 10]."""
    model = HVAE(HVAEConfig(hidden=[8], latent_dims=[2, 2], ladder_hidden=4), (1, 4, 4))
    with torch.no_grad():
        model.priors[0][-1].bias.fill_(-30.0)
        model.messages[0].bias.fill_(30.0)
    _, logvar_p = model.layer_prior(0, torch.zeros(3, 2))
    _, logvar_hat = model.bottom_up(torch.zeros(3, 1, 4, 4))[0]
    assert float(logvar_p.min().detach()) == -10.0 and float(logvar_hat.max().detach()) == 10.0
