"""Latent traversals: vary one latent dimension, hold the others (the beta-VAE picture)."""

from __future__ import annotations

import torch
from torch import Tensor

from vaelab.models.gaussian import kl_to_standard_normal


@torch.no_grad()
def kl_per_dimension(model, x: Tensor, y: Tensor | None = None) -> Tensor:
    """Mean over the batch of KL(q(z_j|x) || N(0, 1)) for each latent dimension j, [D] (nats).

    Dimensions with ~0 KL carry no information about x (collapsed to the prior).
    Models without a Gaussian posterior (the plain AE) get the variance of their codes instead.
    """
    x = x.to(model.device)
    y = None if y is None else y.to(model.device)
    if hasattr(model, "posterior"):
        mu, logvar = model.posterior(x, y)
        return kl_to_standard_normal(mu, logvar).mean(0)
    return model.encode(x, y).var(0)


@torch.no_grad()
def traverse(model, x: Tensor, dims: list[int], values: Tensor, y: Tensor | None = None) -> Tensor:
    """Decode z with z_d swept over `values` and the other dimensions at x's posterior mean.

    x [C, H, W] -> images [len(dims), len(values), C, H, W]; row i sweeps dimension dims[i].
    """
    labels = None if y is None else torch.as_tensor(y).reshape(1).to(model.device)
    z = model.encode(x[None].to(model.device), labels)[0]  # [D]
    steps = len(values)
    rows = []
    for d in dims:
        zs = z.repeat(steps, 1)
        zs[:, d] = values.to(zs)
        rows.append(model.decode(zs, None if labels is None else labels.expand(steps)))
    return torch.stack(rows)
