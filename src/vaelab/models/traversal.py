"""Latent traversals: vary one latent dimension, hold the others (the beta-VAE picture)."""

from __future__ import annotations

import torch
from torch import Tensor

from vaelab.models.base import LatentVectorModel, require
from vaelab.models.priors.standard_normal import has_standard_normal_prior, require_standard_normal_prior


@torch.inference_mode()
def batch_kl_per_dimension(model, x: Tensor, y: Tensor | None = None) -> Tensor:
    """Mean over the batch of KL(q(z_j|x) || N(0, 1)) for each latent dimension j, [D] (nats).

    Dimensions with ~0 KL carry no information about x (collapsed to the prior). Needs a
    Gaussian posterior and the N(0, I) prior (the closed form is that prior's).
    """
    require_standard_normal_prior(model, "the KL per latent dimension")
    x = x.to(model.device)
    y = None if y is None else y.to(model.device)
    mu, logvar = model.posterior(x, y)
    return model.prior.kl(mu, logvar).mean(0)


@torch.inference_mode()
def dimension_activity(model, x: Tensor, y: Tensor | None = None) -> Tensor:
    """How much each latent dimension varies with x, [D]: the KL per dimension for a VAE
    with the N(0, I) prior, the variance of the codes over the batch otherwise (a plain AE)."""
    require(model, LatentVectorModel, "ranking latent dimensions")
    if has_standard_normal_prior(model):
        return batch_kl_per_dimension(model, x, y)
    return model.encode(x.to(model.device), None if y is None else y.to(model.device)).var(0)


@torch.inference_mode()
def traverse(model, x: Tensor, dims: list[int], values: Tensor, y: Tensor | None = None) -> Tensor:
    """Decode z with z_d swept over `values` and the other dimensions at x's posterior mean.

    x [C, H, W] -> images [len(dims), len(values), C, H, W]; row i sweeps dimension dims[i].
    """
    require(model, LatentVectorModel, "a latent traversal")
    labels = None if y is None else torch.as_tensor(y).reshape(1).to(model.device)
    z = model.encode(x[None].to(model.device), labels)[0]  # (D,)
    steps = len(values)
    rows = []
    for d in dims:
        zs = z.repeat(steps, 1)  # (steps, D)
        zs[:, d] = values.to(zs)
        rows.append(model.decode(zs, None if labels is None else labels.expand(steps)))
    return torch.stack(rows)
