"""The oi-VAE: groups that partition the data, the group lasso's proximal step, and the
latent x group support recovered on data whose dependence structure is known."""

import pytest
import torch

from vaelab.config import TrainConfig
from vaelab.data.grouped import SUPPORT, grouped_synthetic
from vaelab.errors import ConfigError
from vaelab.models import build_model, config_class
from vaelab.models.oivae import OIVAE, OIVAEConfig, group_index
from vaelab.training import fit, tensor_epochs

def test_the_learned_weight_norms_recover_which_latents_each_group_depends_on(tmp_path):
    torch.manual_seed(0)
    cfg = OIVAEConfig(hidden=[64], latent_dim=4, groups="columns", group_sizes=[5] * 4, group_hidden=32, lasso=5.0,
                      likelihood="gaussian", variance=0.01)
    model = build_model(cfg, (1, 1, 20))
    t = TrainConfig(epochs=60, batch_size=100, lr=3e-3, progress=False)
    fit(model, t, tmp_path / "run", tensor_epochs(grouped_synthetic(2000), None, 100), None, config={}, meta={"model": "oi-vae"})
    norms = model.latent_group_norms()
    found = (norms / norms.max() > 0.1).int().tolist()  # [4 latents, 4 groups]
    rows = sorted(tuple(r) for r in found if any(r))  # the latent dimensions in use, in any order
    assert rows == sorted(tuple(r) for r in SUPPORT), found
    assert sum(not any(r) for r in found) == 1  # the fourth latent is switched off everywhere


def test_the_proximal_step_is_the_group_lasso_operator():
    model = OIVAE(OIVAEConfig(hidden=[8], latent_dim=3, groups="channels", group_hidden=2, lasso=2.0), (2, 2, 2))
    w = model.generators[0].first.weight  # [2, 3]
    with torch.no_grad():
        w.copy_(torch.tensor([[3.0, 0.1, 0.0], [4.0, 0.1, 0.5]]))  # column norms 5, 0.141, 0.5
    model.proximal_step(lr=0.1)  # threshold lr * lambda = 0.2
    norms = w.detach().norm(dim=0)
    assert float(norms[0]) == pytest.approx(4.8) and float(norms[1]) == 0 and float(norms[2]) == pytest.approx(0.3)
    assert torch.allclose(w.detach()[:, 0] / norms[0], torch.tensor([0.6, 0.8]))  # direction kept


@pytest.mark.parametrize("groups, extra, count", [("patches", {"patch_size": 2}, 4), ("channels", {}, 3),
                                                  ("columns", {"group_sizes": [10, 38]}, 2)])
def test_groups_partition_the_data(groups, extra, count):
    index = group_index(OIVAEConfig(groups=groups, **extra), (3, 4, 4))
    assert len(index) == count
    assert sorted(torch.cat(index).tolist()) == list(range(48))


def test_each_generator_writes_its_own_group():
    torch.manual_seed(0)
    model = OIVAE(OIVAEConfig(hidden=[8], latent_dim=2, patch_size=2, group_hidden=4), (1, 4, 4))
    with torch.no_grad():
        for g, gen in enumerate(model.generators):
            gen.rest[-1].weight.zero_()
            gen.rest[-1].bias.fill_(float(g))
    out = model.decoder_output(torch.zeros(1, 2))[0, 0]  # [4, 4]: 2x2 patches, row by row
    assert out.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]


def test_bad_groups_are_refused():
    with pytest.raises(ConfigError, match="patch_size=3 must divide"):
        group_index(OIVAEConfig(patch_size=3), (1, 28, 28))
    with pytest.raises(ConfigError, match="group_sizes must sum to the data's 784"):
        group_index(OIVAEConfig(groups="columns", group_sizes=[10]), (1, 28, 28))


def test_the_trainer_applies_the_proximal_step(tmp_path):
    torch.manual_seed(0)
    model = build_model(config_class("oi-vae")(hidden=[8], latent_dim=2, patch_size=2, group_hidden=4, lasso=1e6), (1, 4, 4))
    t = TrainConfig(epochs=1, batch_size=8, progress=False)
    fit(model, t, tmp_path / "run", tensor_epochs(torch.rand(8, 1, 4, 4).bernoulli(), None, 8), None, config={},
        meta={"model": "oi-vae"})
    assert float(model.latent_group_norms().sum()) == 0.0  # one step with a huge lambda: every column off
