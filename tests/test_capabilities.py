"""Capabilities are declared, not probed: code that needs one refuses a model that does not
declare it with a clear message, even a model that happens to have the attributes."""

import pytest
import torch
from torch import nn

from vaelab.config import TrainConfig
from vaelab.data import ImageDataset
from vaelab.errors import CapabilityError, ConfigError
from vaelab.plots.groups import save_group_heatmap
from vaelab.evaluation import code_grids, codebook_scores, elbo_terms, importance_weighted_nll, kl_per_dimension, posterior_means
from vaelab.models import (
    VAE,
    VQVAE,
    CodeGridModel,
    GaussianLatentModel,
    GenerativeModel,
    LatentPrior,
    LossOutput,
    VAEConfig,
    VQVAEConfig,
)
from vaelab.models.priors import GatedPixelCNN, PixelCNNConfig
from vaelab.models.traversal import dimension_activity, traverse
from vaelab.plots.latent_space import latent_points
from vaelab.plots.manifold import save_manifold_grid
from vaelab.plots.run_pictures import save_traversal
from vaelab.training import fit


class LooksLikeEverything(GenerativeModel):
    """Declares no capability, yet has what probing would look for: posterior, latent_dim,
    likelihood, prior, quantizer, encode_codes. Before, hasattr checks let such a model
    through to formulas that assume a VAE's N(0, I) prior."""

    name = "impostor"
    latent_dim = 16
    grid = (4, 4)
    num_codes = 4

    def __init__(self):
        super().__init__(None, (1, 4, 4))
        self.weight = nn.Parameter(torch.zeros(()))
        self.likelihood = self.prior = self.quantizer = nn.Identity()

    def encode(self, x, y=None):
        return x.flatten(1)

    def decode(self, z, y=None):
        return z.view(-1, 1, 4, 4)

    def posterior(self, x, y=None):
        return x.flatten(1), torch.zeros_like(x.flatten(1))

    def decoder_output(self, z, y=None):
        return self.decode(z)

    def encode_codes(self, x):
        return torch.zeros(len(x), 4, 4, dtype=torch.long)

    def forward(self, x, y=None):
        return LossOutput(self.weight, {})


def images(n=8):
    return torch.randint(0, 256, (n, 1, 4, 4), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


NEEDS = {  # what each use calls, and the capability its message must name
    "IS-NLL": (lambda m, d, p: importance_weighted_nll(m, d.images, k=2), "posterior q(z|x) to sample"),
    "ELBO terms": (lambda m, d, p: elbo_terms(m, d), "posterior q(z|x) to sample"),
    "KL per dimension": (lambda m, d, p: kl_per_dimension(m, d), "Gaussian posterior"),
    "posterior means": (lambda m, d, p: posterior_means(m, d.images), "one latent vector per image"),
    "latent scatter": (lambda m, d, p: latent_points(m, d), "one latent vector per image"),
    "traversal": (lambda m, d, p: traverse(m, torch.rand(1, 4, 4), [0], torch.zeros(3)), "one latent vector per image"),
    "traversal picture": (lambda m, d, p: save_traversal(m, d, 0, p / "t.png"), "one latent vector per image"),
    "ranking dimensions": (lambda m, d, p: dimension_activity(m, torch.rand(4, 1, 4, 4)), "one latent vector per image"),
    "manifold grid": (lambda m, d, p: save_manifold_grid(m, p / "m.png"), "one latent vector per image"),
    "code grids": (lambda m, d, p: code_grids(m, d.images), "grid of discrete codes"),
    "group heatmap": (lambda m, d, p: save_group_heatmap(m, p / "g.png"), "groups of observed variables"),
    "codebook scores": (lambda m, d, p: codebook_scores(m, d), "grid of discrete codes"),
}


@pytest.mark.parametrize("use", NEEDS)
def test_a_model_that_declares_nothing_is_refused_by_name(use, tmp_path):
    call, capability = NEEDS[use]
    with pytest.raises(CapabilityError) as refused:
        call(LooksLikeEverything(), ImageDataset(images()), tmp_path)
    message = str(refused.value)
    assert capability in message and "'impostor'" in message and "\n" not in message
    assert not list(tmp_path.iterdir())  # refused before anything was written


class ShiftedPrior(LatentPrior):
    """p(z) = N(2, I): a prior whose closed forms are not N(0, I)'s."""

    def log_prob(self, z):
        return torch.distributions.Normal(2.0, 1.0).log_prob(z).sum(-1)

    def sample(self, n, generator=None):
        return 2.0 + torch.randn(n, 2, generator=generator)


@pytest.mark.parametrize("use", ["KL per dimension", "manifold grid"])
def test_closed_forms_of_the_standard_normal_refuse_another_prior(use, tmp_path):
    torch.manual_seed(0)
    vae = VAE(VAEConfig(latent_dim=2, hidden=[8]), (1, 4, 4)).eval()
    call, _ = NEEDS[use]
    call(vae, ImageDataset(images()), tmp_path)  # with its own N(0, I) prior: fine
    vae.prior = ShiftedPrior()
    with pytest.raises(CapabilityError, match=r"N\(0, I\) prior; model 'vae' has another prior \(ShiftedPrior\)"):
        call(vae, ImageDataset(images()), tmp_path / "other")


def test_the_is_nll_takes_the_model_s_prior_whatever_it_is():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(latent_dim=2, hidden=[8]), (1, 4, 4)).eval()
    x = images(4)
    standard = importance_weighted_nll(vae, x, k=16, generator=torch.Generator().manual_seed(1), progress=False)
    vae.prior = ShiftedPrior()
    shifted = importance_weighted_nll(vae, x, k=16, generator=torch.Generator().manual_seed(1), progress=False)
    assert not torch.allclose(standard, shifted)  # log p(z) is the model's own, not a hard-coded N(0, I)


def test_a_model_that_declares_a_capability_must_provide_its_methods():
    class Half(GenerativeModel, GaussianLatentModel):  # no posterior, no decoder_output
        latent_dim = 2

    with pytest.raises(TypeError, match="abstract"):
        Half(None, (1, 4, 4))


def test_the_training_loop_refuses_a_module_that_is_not_trainable(tmp_path):
    with pytest.raises(CapabilityError, match="Trainable"):
        fit(nn.Linear(2, 2), TrainConfig(epochs=1), tmp_path, lambda g, s: [], 1, None, {}, {})


def test_the_code_prior_is_a_visible_submodule_of_the_vqvae():
    vq = VQVAE(VQVAEConfig(channels=[8], res_blocks=0, num_codes=8, code_dim=2), (1, 8, 8))
    assert isinstance(vq, CodeGridModel) and not vq.can_sample and vq.prior is None
    keys = set(vq.state_dict())
    prior = GatedPixelCNN(8, PixelCNNConfig(channels=4, layers=1))
    vq.attach_prior(prior)
    assert vq.can_sample and any(child is prior for child in vq.children())
    assert {k for k in vq.state_dict() if not k.startswith("prior.")} == keys  # the model's own file is unchanged
    vq.double()  # moves with the model
    assert prior.embed.weight.dtype == torch.float64
    vq.attach_prior(None)
    assert not vq.can_sample and set(vq.state_dict()) == keys
    with pytest.raises(ConfigError, match="16 codes does not fit"):
        vq.attach_prior(GatedPixelCNN(16, PixelCNNConfig(channels=4, layers=1)))


def test_the_scorecard_scores_a_learned_prior_with_what_holds_for_it_and_notes_the_rest():
    from vaelab.runs.scorecard import EvalOptions, _likelihood_and_latent

    torch.manual_seed(0)
    vae = VAE(VAEConfig(latent_dim=2, hidden=[8]), (1, 4, 4)).eval()
    vae.prior = ShiftedPrior()
    notes = []
    result = _likelihood_and_latent(vae, ImageDataset(images()), "none", EvalOptions(k=4), notes)
    assert result["likelihood"]["kl_estimate"] == "monte carlo"  # the -ELBO's KL has no closed form here
    assert result["likelihood"]["nelbo"] == pytest.approx(result["likelihood"]["recon"] + result["likelihood"]["kl"])
    assert "kl_per_dim" not in result["latent"] and result["latent"]["latent_dim"] == 2
    assert notes == ["the ELBO's KL is a one-sample Monte Carlo estimate (no closed form for this prior); "
                     "no KL per dimension (a closed form of the N(0, I) prior)"]
