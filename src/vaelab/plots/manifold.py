"""The learned manifold of a 2-D latent space: decoded images on a grid of z.

As in Kingma & Welling (2014, figure 4): evenly spaced probabilities on the unit square
go through the inverse CDF of the standard normal, so the grid covers the prior's mass
evenly (dense near 0, sparse in the tails) rather than a box of z values.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from vaelab.errors import CapabilityError, ConfigError
from vaelab.models.base import GaussianLatentModel, LatentVectorModel, require
from vaelab.models.priors.standard_normal import require_standard_normal_prior
from vaelab.plots.grid import save_grid


def manifold_axis(steps: int = 20, span: float = 0.9) -> Tensor:
    """[steps] z values: the standard normal's quantiles at `steps` evenly spaced
    probabilities covering the central `span` of its mass (0.9: from 0.05 to 0.95)."""
    if not 0 < span < 1:
        raise ConfigError(f"span is a probability mass in (0, 1), got {span}")
    if steps < 2:
        raise ConfigError(f"steps must be at least 2, got {steps}")
    p = torch.linspace((1 - span) / 2, (1 + span) / 2, steps)
    return torch.distributions.Normal(0.0, 1.0).icdf(p)


@torch.inference_mode()
def manifold_images(model, steps: int = 20, span: float = 0.9, label: int = 0) -> Tensor:
    """Decoded grid [steps * steps, C, H, W], row by row: columns sweep z1 left to right
    (low to high), rows sweep z2 top to bottom (high to low, so that up is up).
    Conditional models decode every point with class `label`."""
    require(model, LatentVectorModel, "the manifold grid")
    if isinstance(model, GaussianLatentModel):  # its axes are quantiles of the N(0, I) prior
        require_standard_normal_prior(model, "the manifold grid")
    if model.latent_dim != 2:
        raise CapabilityError(f"the manifold grid needs a 2-D latent space; model {model.name!r} has latent_dim={model.latent_dim}")
    axis = manifold_axis(steps, span)
    z2, z1 = torch.meshgrid(axis.flip(0), axis, indexing="ij")  # [steps, steps] each, row = z2
    z = torch.stack([z1.flatten(), z2.flatten()], dim=1).to(model.device)
    y = torch.full((len(z),), label, device=model.device) if model.conditional else None
    model.eval()
    return model.decode(z, y).cpu()


def save_manifold_grid(model, path: str | Path, steps: int = 20, span: float = 0.9, label: int = 0) -> Path:
    """`manifold_images` as one PNG of steps x steps tiles (enlarged for small images).

    Raises CapabilityError unless the model has a 2-D latent vector (and, if it is a VAE,
    the N(0, I) prior whose quantiles the grid is made of).
    """
    images = manifold_images(model, steps, span, label)
    scale = max(1, 400 // (steps * images.shape[-1]))  # about 400 px wide at least: MNIST 28 px -> x1 at 20 steps
    return save_grid(images, path, nrow=steps, scale=scale)
