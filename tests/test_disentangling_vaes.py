"""beta-TCVAE's KL decomposition and FactorVAE's discriminator: the math each rests on."""

import math

import pytest
import torch

import vaelab
from vaelab.config import compose
from vaelab.errors import ConfigError
from vaelab.models import config_class
from vaelab.models.factorvae import FactorVAE, FactorVAEConfig, shuffle_dimensions
from vaelab.models.gaussian import kl_to_standard_normal
from vaelab.models.tcvae import kl_decomposition
from vaelab.training.optim import build_optimizer


def test_mi_tc_and_dimension_wise_kl_sum_to_the_averaged_kl():
    """The three estimates telescope to mean(log q(z|x) - log p(z)), whose expectation is
    the batch's averaged closed-form KL: checked within Monte Carlo error over many draws."""
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(64, 3, generator=g), torch.randn(64, 3, generator=g) * 0.5 - 1.0
    exact = float(kl_to_standard_normal(mu, logvar).sum(1).mean())
    sums = []
    for _ in range(400):
        z = mu + torch.exp(0.5 * logvar) * torch.randn(64, 3, generator=g)
        parts = kl_decomposition(z, mu, logvar, 64)
        log_q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(1)
        log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
        total = parts["mi"] + parts["tc"] + parts["dim_kl"]
        assert float(total) == pytest.approx(float((log_q - log_p).mean()), abs=1e-4)  # telescoped exactly
        sums.append(float(total))
    sums = torch.tensor(sums)
    assert float(sums.mean()) == pytest.approx(exact, abs=4 * float(sums.std()) / math.sqrt(len(sums)))


def test_the_total_correlation_sees_dependent_dimensions():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(256, 1, generator=g)
    logvar = torch.full((256, 2), -4.0)
    independent = torch.cat([a, torch.randn(256, 1, generator=g)], 1)
    dependent = torch.cat([a, a], 1)  # z_2 = z_1: all the information is shared
    tc = [float(kl_decomposition(m + 0.13 * torch.randn(256, 2, generator=g), m, logvar, 256)["tc"])
          for m in (independent, dependent)]
    # minibatch-weighted sampling is biased upwards for narrow posteriors (each z_i sits
    # mostly in its own q(z|x_i)), so compare: shared information shows as more TC
    assert tc[1] > tc[0] + 1.0, tc


def test_the_run_gives_beta_tcvae_its_training_set_size(tmp_path):
    cfg = compose({"data": {"name": "shapes", "image_size": 16, "num_samples": 96, "val": 32},
                   "model": {"name": "beta-tcvae", "hidden": [32], "latent_dim": 4},
                   "train": {"epochs": 1, "batch_size": 32, "progress": False}}, [], config_class)
    vaelab.train(cfg, tmp_path / "run")
    assert int(vaelab.load(tmp_path / "run").training_set_size) == 64
    with pytest.raises(ConfigError, match="beta-tcvae"):
        compose({"model": {"name": "beta-tcvae"}}, ["model.beta=4"], config_class)


def grads(model, loss):
    model.zero_grad()
    loss.backward(retain_graph=True)
    return {k: None if p.grad is None else p.grad.clone() for k, p in model.named_parameters()}


def test_one_backward_gives_the_vae_and_its_discriminator_their_own_gradients():
    torch.manual_seed(0)
    model = FactorVAE(FactorVAEConfig(hidden=[16], latent_dim=3, critic_hidden=8, critic_layers=2), (1, 4, 4))
    x = torch.rand(16, 1, 4, 4).bernoulli()
    torch.manual_seed(1)
    out = model(x)
    together = grads(model, out.loss)
    critic_only = grads(model, out.terms["critic"].requires_grad_() * 0 + _critic_loss(model, x))
    for k, g in together.items():
        if k.startswith("discriminator."):  # the critic learns from its own loss alone
            assert torch.allclose(g, critic_only[k], atol=1e-6), k
    assert together["mu_head.weight"].abs().sum() > 0
    # the encoder feels the TC term: its gradient changes with gamma
    torch.manual_seed(0)
    no_tc = FactorVAE(FactorVAEConfig(hidden=[16], latent_dim=3, critic_hidden=8, critic_layers=2, tc_weight=0.0), (1, 4, 4))
    no_tc.load_state_dict(model.state_dict())
    torch.manual_seed(1)
    without = grads(no_tc, no_tc(x).loss)
    assert not torch.allclose(together["mu_head.weight"], without["mu_head.weight"])
    assert torch.allclose(together["discriminator.out.weight"], without["discriminator.out.weight"], atol=1e-6)


def _critic_loss(model, x):
    """The discriminator's loss recomputed from the same draws (seed 1, as in the forward)."""
    torch.manual_seed(1)
    mu, logvar = model.posterior(x)
    z = (mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)).detach()
    logits = model.discriminator(torch.cat([z, shuffle_dimensions(z)]))
    return torch.nn.functional.cross_entropy(logits, torch.cat([torch.zeros(16), torch.ones(16)]).long())


def test_shuffled_codes_keep_each_dimension_s_values():
    z = torch.arange(20.0).view(10, 2)
    s = shuffle_dimensions(z)
    for j in range(2):
        assert sorted(s[:, j].tolist()) == z[:, j].tolist()


def test_the_discriminator_gets_its_own_optimizer_settings():
    model = FactorVAE(FactorVAEConfig(hidden=[16], latent_dim=3, critic_hidden=8, critic_layers=2), (1, 4, 4))
    from vaelab.config import TrainConfig
    opt = build_optimizer(model, TrainConfig(lr=1e-3, weight_decay=0.01))
    main, critic = opt.param_groups
    assert critic["lr"] == 1e-4 and critic["betas"] == (0.5, 0.9) and critic["weight_decay"] == 0.0
    assert main["lr"] == 1e-3 and len(main["params"]) + len(critic["params"]) == len(list(model.parameters()))


def test_stratified_weights_are_a_mixture_over_the_training_set_and_still_telescope():
    from vaelab.models.tcvae import log_importance_weights
    log_w = log_importance_weights(8, torch.tensor(100), "mss")
    assert torch.allclose(log_w.exp().sum(1), torch.ones(8), atol=1e-6)  # each row: a distribution over examples
    assert torch.allclose(log_w.diagonal(), torch.full((8,), -math.log(100)))
    assert torch.allclose(log_importance_weights(8, torch.tensor(100), "mws").exp().sum(1), torch.full((8,), 0.01))
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g) - 1.0
    z = mu + torch.exp(0.5 * logvar) * torch.randn(8, 3, generator=g)
    parts = kl_decomposition(z, mu, logvar, 100, "mss")
    log_q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(1)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    assert float(parts["mi"] + parts["tc"] + parts["dim_kl"]) == pytest.approx(float((log_q - log_p).mean()), abs=1e-4)
    assert float(parts["tc"]) != pytest.approx(float(kl_decomposition(z, mu, logvar, 100, "mws")["tc"]))
