"""Per-dimension KL, active units and reconstruction error."""

import pytest
import torch
from torch import nn

from vaelab.data import ImageDataset
from vaelab.errors import CapabilityError
from vaelab.evaluation.latent_stats import (
    active_units,
    kl_per_dimension,
    posterior_means,
    reconstruction_mse,
)
from vaelab.evaluation.likelihood import elbo_terms
from vaelab.models import AE, VAE, AEConfig, LatentVectorModel, VAEConfig


class Copy(nn.Module, LatentVectorModel):
    """A stand-in model: z_0 copies the first pixel, z_1 is constant; decode(encode(x)) = x when `identity`."""

    latent_dim = 2

    def __init__(self, identity=False):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(0))
        self.identity = identity

    def encode(self, x, y=None):
        if self.identity:
            return x.flatten(1)
        return torch.stack([x.flatten(1)[:, 0], torch.full((len(x),), 3.0)], dim=1)

    def reconstruct(self, x, y=None):
        return self.encode(x).view_as(x) if self.identity else torch.zeros_like(x)


def images(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, 4, 4), generator=g, dtype=torch.uint8)


def test_a_latent_that_follows_the_input_is_active_and_a_constant_one_is_not():
    means = posterior_means(Copy(), images(), batch_size=7)
    count, variances = active_units(means)
    assert means.shape == (50, 2) and count == 1
    assert variances[0] > 0.05 and variances[1] == 0


def test_reconstruction_mse_is_per_pixel_on_the_unit_scale():
    data = ImageDataset(images())
    assert reconstruction_mse(Copy(identity=True), data) == pytest.approx(0.0, abs=1e-12)
    white = ImageDataset(torch.full((3, 1, 4, 4), 255, dtype=torch.uint8))
    assert reconstruction_mse(Copy(), white) == pytest.approx(1.0)  # all-black reconstructions of white: 1, not 255^2


def test_kl_per_dimension_sums_to_the_mean_kl_and_needs_a_posterior():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(latent_dim=4, hidden=[32]), (1, 4, 4))
    data = ImageDataset(images(70))
    per_dim = kl_per_dimension(vae, data, batch_size=16)
    assert per_dim.shape == (4,) and (per_dim >= 0).all()
    assert float(per_dim.sum()) == pytest.approx(elbo_terms(vae, data, batch_size=32)["kl"], rel=1e-5)
    with pytest.raises(CapabilityError):
        kl_per_dimension(AE(AEConfig(latent_dim=4, hidden=[32]), (1, 4, 4)), data)
