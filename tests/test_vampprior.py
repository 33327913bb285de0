"""The VampPrior: a normalised density, N(0, I) when its one component is, a Monte Carlo
KL whose mean is the closed form, samples from the mixture, and every use of p(z)
(sampling, KL, IS-NLL) going through the model's own prior."""

import math

import pytest
import torch

from vaelab.config import compose
from vaelab.errors import ConfigError
from vaelab.evaluation import elbo_terms, importance_weighted_nll
from vaelab.data import ImageDataset
from vaelab.models import VAE, VAEConfig, config_class
from vaelab.models.gaussian import kl_to_standard_normal
from vaelab.models.priors import StandardNormalPrior, VampPrior


def vamp_vae(latent_dim=2, pseudo=5, seed=0):
    torch.manual_seed(seed)
    return VAE(VAEConfig(prior="vamp", pseudo_inputs=pseudo, latent_dim=latent_dim, hidden=[16]), (1, 4, 4))


@pytest.mark.parametrize("latent_dim", [1, 2])
def test_log_p_z_is_a_normalised_density(latent_dim):
    prior = vamp_vae(latent_dim).prior
    step = 0.02 if latent_dim == 1 else 0.05
    axis = torch.arange(-8, 8, step, dtype=torch.float64) + step / 2
    grid = torch.cartesian_prod(*[axis] * latent_dim).view(-1, latent_dim)
    with torch.no_grad():
        mass = prior.log_prob(grid.float()).double().exp().sum() * step ** latent_dim
    assert float(mass) == pytest.approx(1.0, abs=2e-3)


def test_one_pseudo_input_with_a_standard_normal_posterior_is_n01():
    zero_posterior = lambda u: (torch.zeros(len(u), 3), torch.zeros(len(u), 3))  # noqa: E731
    prior = VampPrior(zero_posterior, 1, (1, 4, 4))
    z = torch.randn(50, 3)
    assert torch.allclose(prior.log_prob(z), StandardNormalPrior(3).log_prob(z), atol=1e-5)
    # the same inside a VAE: with heads that give N(0, I) for the pseudo-input (and for every
    # x), its IS-NLL is the plain VAE's, sample for sample
    vamp = vamp_vae(latent_dim=3, pseudo=1)
    for head in (vamp.mu_head, vamp.logvar_head):
        torch.nn.init.zeros_(head.weight)
        torch.nn.init.zeros_(head.bias)
    plain = VAE(VAEConfig(latent_dim=3, hidden=[16]), (1, 4, 4))
    plain.load_state_dict(vamp.state_dict(), strict=False)  # all but the pseudo-inputs
    x = torch.rand(6, 1, 4, 4).bernoulli()
    a, b = (importance_weighted_nll(m, x, k=20, generator=torch.Generator().manual_seed(0), progress=False)
            for m in (vamp, plain))
    assert torch.allclose(a, b, atol=1e-4)


def test_the_monte_carlo_kl_has_the_closed_form_as_its_mean():
    """With one N(0, I) component the VampPrior is N(0, I): the ELBO's one-sample KL estimate
    log q(z|x) - log p(z) must average to the closed form over many draws."""
    zero_posterior = lambda u: (torch.zeros(len(u), 2), torch.zeros(len(u), 2))  # noqa: E731
    prior = VampPrior(zero_posterior, 1, (1, 4, 4))
    mu, logvar = torch.tensor([[0.8, -1.2]]), torch.tensor([[-0.5, 0.7]])
    z = mu + torch.exp(0.5 * logvar) * torch.randn(200_000, 2, generator=torch.Generator().manual_seed(0))
    log_q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    estimate = (log_q - prior.log_prob(z))
    exact = float(kl_to_standard_normal(mu, logvar).sum())
    assert float(estimate.mean()) == pytest.approx(exact, abs=4 * float(estimate.std()) / math.sqrt(len(z)))


def test_samples_come_from_the_mixture():
    prior = VampPrior(lambda u: (u.flatten(1)[:, :1] * 10 - 5, torch.full((len(u), 1), -4.0)), 2, (1, 1, 1))
    with torch.no_grad():
        prior.pseudo_logits.copy_(torch.tensor([-3.0, 3.0]).view(2, 1, 1, 1))  # components at 10 sigmoid(-+3) - 5
        centres = torch.sigmoid(torch.tensor([-3.0, 3.0])) * 10 - 5
        z = prior.sample(20_000, torch.Generator().manual_seed(0))[:, 0]
    near = [(z - c).abs() < 0.8 for c in centres]  # 6 sigma (sigma = exp(-2))
    assert bool((near[0] | near[1]).all())
    assert float(near[0].float().mean()) == pytest.approx(0.5, abs=0.02)


def test_the_loss_trains_the_pseudo_inputs_and_uses_the_model_s_prior():
    model = vamp_vae()
    x = torch.rand(8, 1, 4, 4).bernoulli()
    out = model(x)
    out.loss.backward()
    assert model.prior.pseudo_logits.grad.abs().sum() > 0
    assert "prior.pseudo_logits" in model.state_dict()
    terms = elbo_terms(model, ImageDataset((x * 255).to(torch.uint8)))
    assert terms["kl_estimate"] == "monte carlo"
    assert model.sample(4).shape == (4, 1, 4, 4)


def test_conditional_and_mmd_models_refuse_it():
    with pytest.raises(ConfigError, match="unconditional"):
        from vaelab.models import CVAE, CVAEConfig
        CVAE(CVAEConfig(prior="vamp", num_classes=3, hidden=[8], latent_dim=2), (1, 4, 4))
    with pytest.raises(ConfigError, match="infovae"):
        compose({"model": {"name": "infovae"}}, ["model.prior=vamp"], config_class)
