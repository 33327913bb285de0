"""Maximum mean discrepancy between two samples (Gretton et al., 2012), for InfoVAE / MMD-VAE.

    MMD^2(P, Q) = E k(x, x') + E k(y, y') - 2 E k(x, y),   x, x' ~ P,  y, y' ~ Q

estimated without bias from n samples of each (the U-statistic: the diagonal terms
k(x_i, x_i) are left out, so the estimate is ~0, and can be slightly negative, when P = Q).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from vaelab.errors import ConfigError


def rbf_kernel(a: Tensor, b: Tensor, scale: float = 1.0) -> Tensor:
    """exp(-||a_i - b_j||^2 / C) with C = 2 * D * scale: [n, D], [m, D] -> [n, m]."""
    c = 2.0 * a.shape[1] * scale
    return torch.exp(-torch.cdist(a, b).pow(2) / c)


def imq_kernel(a: Tensor, b: Tensor, scale: float = 1.0) -> Tensor:
    """Inverse multiquadratic C / (C + ||a_i - b_j||^2), C = 2 * D * scale (as in WAE): [n, m].

    Its heavy tails keep gradients alive when the two samples are far apart.
    """
    c = 2.0 * a.shape[1] * scale
    return c / (c + torch.cdist(a, b).pow(2))


KERNELS: dict[str, Callable[..., Tensor]] = {"rbf": rbf_kernel, "imq": imq_kernel}


def mmd(x: Tensor, y: Tensor, kernel: str = "imq", scale: float = 1.0) -> Tensor:
    """Unbiased estimate of MMD^2 between samples x [n, D] and y [m, D] (n, m >= 2), in
    float32 (autocast off: the kernel sums cancel, half precision would not survive that)."""
    if kernel not in KERNELS:
        raise ConfigError(f"unknown MMD kernel {kernel!r}; use {' or '.join(KERNELS)}")
    with torch.autocast(x.device.type, enabled=False):
        return _mmd(x.float(), y.float(), KERNELS[kernel], scale)


def _mmd(x: Tensor, y: Tensor, k, scale: float) -> Tensor:

    def mean_off_diagonal(a: Tensor) -> Tensor:
        gram = k(a, a, scale)
        return (gram.sum() - gram.diagonal().sum()) / (len(a) * (len(a) - 1))

    return mean_off_diagonal(x) + mean_off_diagonal(y) - 2 * k(x, y, scale).mean()
