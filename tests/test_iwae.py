"""The IWAE objective (model.iw_samples = k): what it computes, that k = 1 is the VAE, and
that the bound rises with k and stays below log p(x) where log p(x) is known."""

import math

import pytest
import torch

import vaelab
from linear_gaussian import PPCA
from vaelab.config import compose
from vaelab.data import load_dataset
from vaelab.errors import ConfigError
from vaelab.models import VAE, VAEConfig, config_class
from vaelab.models.objective import importance_weighted_bound

SMALL = dict(latent_dim=3, hidden=[16])


def binary_images(n=8, seed=0):
    return torch.rand(n, 1, 6, 6, generator=torch.Generator().manual_seed(seed)).bernoulli()


def test_the_loss_is_minus_the_mean_of_logsumexp_of_the_k_log_weights():
    torch.manual_seed(0)
    model = VAE(VAEConfig(iw_samples=7, **SMALL), (1, 6, 6))
    x = binary_images()
    torch.manual_seed(1)
    loss = model(x).loss
    torch.manual_seed(1)
    eps = torch.randn(len(x), 7, 3)  # the draw forward makes: [B, k, D]
    log_w = model.log_weights(x, None, eps).total()  # [B, k]
    expected = -(torch.logsumexp(log_w, dim=1) - math.log(7)).mean()
    assert torch.allclose(loss, expected, atol=1e-5)


def test_k_equal_one_is_the_vae_exactly():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(**SMALL), (1, 6, 6))
    one = VAE(VAEConfig(iw_samples=1, **SMALL), (1, 6, 6))
    one.load_state_dict(vae.state_dict())
    x = binary_images()
    torch.manual_seed(3)
    a = vae(x)
    torch.manual_seed(3)
    b = one(x)
    assert torch.equal(a.loss, b.loss) and a.terms.keys() == b.terms.keys()
    # and the bound of one sample is that sample's log weight, the ELBO's one-sample estimate
    w = vae.log_weights(x, None, torch.randn(len(x), 1, 3))
    assert torch.equal(importance_weighted_bound(w), w.total()[:, 0])


def mean_bound(model, x, k, draws=4, seed=0):
    """E[L_k] estimated over `draws` independent sets of k samples per example."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return float(torch.stack([importance_weighted_bound(
            model.log_weights(x, None, torch.randn(len(x), k, model.noise_dim, generator=g, dtype=x.dtype))).mean()
            for _ in range(draws)]).mean())


def test_on_a_linear_gaussian_model_the_bound_rises_with_k_and_stays_below_log_p_x():
    model = PPCA(shift=0.3, inflate=2.5)  # an approximate posterior: the bound is loose at k = 1
    x = model.draw(400)
    log_px = float(model.log_marginal(x).mean())
    bounds = [mean_bound(model, x, k) for k in (1, 5, 50)]
    assert bounds[0] < bounds[1] < bounds[2] < log_px, (bounds, log_px)
    assert log_px - bounds[0] > 0.3 and log_px - bounds[2] < 0.5 * (log_px - bounds[0])


def test_a_tiny_iwae_run_learns_and_its_bound_rises_with_k(tmp_path):
    cfg = compose({"data": {"name": "shapes", "image_size": 16, "num_samples": 256, "binarize": "static"},
                   "model": {"name": "vae", "hidden": [64], "latent_dim": 4, "iw_samples": 5},
                   "train": {"epochs": 6, "batch_size": 32, "lr": 3e-3, "progress": False}}, [], config_class)
    result = vaelab.train(cfg, tmp_path / "run")
    losses = [r["train/loss"] for r in result.history]
    assert losses[-1] < losses[0] - 20
    assert all(r["train/nelbo"] >= r["train/loss"] - 0.5 for r in result.history)  # -L_5 <= -ELBO, up to noise
    model = result.model.eval()
    x = load_dataset(cfg.data).train.images[:200].float() / 255
    bounds = [mean_bound(model, x, k) for k in (1, 5, 50)]
    assert bounds[0] < bounds[1] < bounds[2], bounds


def test_the_bound_has_no_kl_to_reweight():
    for key in ("model.beta=4", "model.warmup_steps=100", "model.free_bits=0.5", "model.capacity_max=10"):
        with pytest.raises(ConfigError, match=r"model.iw_samples=5 trains on the importance-weighted bound"):
            compose({"model": {"name": "vae"}}, ["model.iw_samples=5", key], config_class)
    with pytest.raises(ConfigError, match="infovae"):
        compose({"model": {"name": "infovae"}}, ["model.iw_samples=5"], config_class)
