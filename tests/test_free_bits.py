"""Free bits (model.free_bits = lambda): the KL of a dimension under its floor costs nothing
and pulls on nothing; above it, the KL is the usual one."""

import pytest
import torch

from vaelab.models import HVAE, VAE, HVAEConfig, VAEConfig
from vaelab.models.objective import floored_kl


def test_dimensions_under_the_floor_get_no_gradient_from_the_kl():
    kl_dims = torch.tensor([0.1, 0.7, 2.0, 0.49], requires_grad=True)
    loss = floored_kl(kl_dims, kl_dims.sum(), 0.5, 4)
    assert float(loss.detach()) == pytest.approx(0.5 + 0.7 + 2.0 + 0.5)
    loss.backward()
    assert kl_dims.grad.tolist() == [0.0, 1.0, 1.0, 0.0]
    # without a per-dimension form (a VampPrior), the floor holds for the whole vector
    total = torch.tensor(1.5, requires_grad=True)
    assert float(floored_kl(None, total, 0.5, 4).detach()) == 2.0
    assert float(floored_kl(None, total, 0.25, 4).detach()) == 1.5


def gradients(model, x):
    model.zero_grad()
    torch.manual_seed(7)
    model(x).loss.backward()
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def test_a_floor_above_every_kl_leaves_the_reconstruction_gradient_alone():
    """With lambda above every dimension's KL the loss is recon + constant: its gradient is
    the reconstruction term's alone (through the reparameterised sample)."""
    torch.manual_seed(0)
    floored = VAE(VAEConfig(latent_dim=3, hidden=[16], free_bits=100.0), (1, 4, 4))
    x = torch.rand(8, 1, 4, 4).bernoulli()
    with_floor = gradients(floored, x)
    floored.zero_grad()
    torch.manual_seed(7)
    recon = floored.elbo_terms(x).recon
    recon.backward()
    for k, p in floored.named_parameters():
        assert torch.allclose(with_floor[k], p.grad, atol=1e-6), k
    assert "nelbo" in floored(x).terms  # the loss is not the -ELBO: it is logged apart


def test_the_hierarchy_floors_every_dimension_of_every_layer():
    torch.manual_seed(0)
    model = HVAE(HVAEConfig(hidden=[16], latent_dims=[3, 2], ladder_hidden=8, free_bits=100.0), (1, 4, 4))
    x = torch.rand(8, 1, 4, 4).bernoulli()
    out = model(x)
    assert float(out.loss.detach()) == float(out.terms["recon"] + 100.0 * 5)
