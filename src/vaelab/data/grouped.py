"""Synthetic grouped data with a known dependence structure, for the oi-VAE: groups of
observed variables, each a nonlinear function of a chosen subset of latent factors.

    z ~ N(0, I_K);   x^(g) = 2 tanh(z A_g) + noise,   A_g [K, size] zero in the rows of the
                     factors group g does not depend on (support[k][g] = 0)

Returned as "images" [N, 1, 1, G * size] (the groups are consecutive column runs), the
shape vaelab's models take; an oi-VAE with model.groups=columns and group_sizes=[size]*G
should find `support` (up to the order of its latent dimensions) in its weight norms.
"""

from __future__ import annotations

import torch
from torch import Tensor

SUPPORT = ((1, 0, 1, 0), (0, 1, 0, 0), (0, 0, 1, 1))  # factor x group: group 2 reads factors 0 and 2


def grouped_synthetic(n: int, support=SUPPORT, size: int = 5, noise: float = 0.1, seed: int = 0) -> Tensor:
    """n observations [n, 1, 1, G * size] whose group g depends on the factors k with `support[k][g] = 1`."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.tensor(support, dtype=torch.float)  # [K, G]
    k, groups = mask.shape
    z = torch.randn(n, k, generator=g)
    cols = [torch.tanh(z @ (torch.randn(k, size, generator=g) * mask[:, j:j + 1])) * 2 for j in range(groups)]
    x = torch.cat(cols, 1) + noise * torch.randn(n, groups * size, generator=g)
    return x.view(n, 1, 1, groups * size)
