"""Frechet distance between two sets of features (Heusel et al., 2017, with our own classifier).

Each set is summarised by a Gaussian N(mu, S) fitted to its features; the distance is
the squared 2-Wasserstein distance between the two Gaussians,

    FD = ||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

With vaelab's SmallCNN features (not Inception's) the numbers are not comparable with
published FIDs, only with each other under the same classifier (name its id).
"""

from __future__ import annotations

import torch
from torch import Tensor

from vaelab.errors import ConfigError


def feature_statistics(feats: Tensor) -> tuple[Tensor, Tensor]:
    """(mean [F], covariance [F, F]) of features [N, F], float64; covariance divided by N - 1."""
    if feats.dim() != 2 or len(feats) < 2:
        raise ConfigError(f"feature statistics need features [N, F] with N >= 2, got shape {list(feats.shape)}.")
    x = feats.double()
    mu = x.mean(0)
    centred = x - mu
    return mu, centred.T @ centred / (len(x) - 1)


def sqrtm_psd(a: Tensor) -> Tensor:
    """Square root of a symmetric positive semi-definite matrix [F, F]: V diag(sqrt(l)) V^T.

    From the eigendecomposition a = V diag(l) V^T; eigenvalues that rounding made
    slightly negative are set to 0. Symmetrised first, so a slightly asymmetric input
    (from rounding) is fine.
    """
    lam, v = torch.linalg.eigh((a + a.T) / 2)
    return (v * lam.clamp(min=0).sqrt()) @ v.T


def gaussian_frechet_distance(mu_a: Tensor, cov_a: Tensor, mu_b: Tensor, cov_b: Tensor) -> float:
    """FD between N(mu_a, cov_a) and N(mu_b, cov_b), float64.

    Tr((S_a S_b)^(1/2)) = Tr((S_a^(1/2) S_b S_a^(1/2))^(1/2)): the right side is the root of
    a symmetric PSD matrix (the left one's product need not be symmetric), so its trace
    is the sum of the square roots of its eigenvalues, which eigh computes stably.
    """
    mu_a, cov_a, mu_b, cov_b = (t.double() for t in (mu_a, cov_a, mu_b, cov_b))
    root_a = sqrtm_psd(cov_a)
    middle = root_a @ cov_b @ root_a
    trace_root = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    return float((mu_a - mu_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * trace_root)


def frechet_distance(feats_a: Tensor, feats_b: Tensor) -> float:
    """FD between the Gaussians fitted to features [N, F] and [M, F] (float64 throughout).

    Its sampling bias shrinks with N and M (more samples: lower FD for the same models),
    so compare models with the same numbers of samples.
    """
    if feats_a.dim() != 2 or feats_b.dim() != 2 or feats_a.shape[1] != feats_b.shape[1]:
        raise ConfigError(f"features must be [N, F] and [M, F] with the same F, got "
                          f"{list(feats_a.shape)} and {list(feats_b.shape)}.")
    return gaussian_frechet_distance(*feature_statistics(feats_a), *feature_statistics(feats_b))
