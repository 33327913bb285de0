"""Frechet distance: zero for identical sets, the closed form for Gaussians, growing with noise."""

import itertools

import pytest
import torch

from vaelab.errors import ConfigError
from vaelab.evaluation.frechet import (
    feature_statistics,
    frechet_distance,
    gaussian_frechet_distance,
    sqrtm_psd,
)


def test_matrix_square_root_of_a_singular_psd_matrix():
    a = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cov = a @ a.T  # rank 3
    root = sqrtm_psd(cov)
    assert torch.allclose(root @ root, cov, atol=1e-10) and torch.allclose(root, root.T)


def test_identical_sets_are_at_distance_zero():
    feats = torch.rand(300, 16, generator=torch.Generator().manual_seed(0))
    assert frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-8)


def test_gaussians_with_diagonal_covariances_match_the_closed_form():
    mu_a, mu_b = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    var_a, var_b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([4.0, 1.0, 0.25])
    closed = float((mu_a - mu_b).pow(2).sum() + (var_a.sqrt() - var_b.sqrt()).pow(2).sum())  # 5 + 2
    assert gaussian_frechet_distance(mu_a, var_a.diag(), mu_b, var_b.diag()) == pytest.approx(closed, abs=1e-10)
    g = torch.Generator().manual_seed(0)
    a = mu_a + var_a.sqrt() * torch.randn(40_000, 3, generator=g)
    b = mu_b + var_b.sqrt() * torch.randn(40_000, 3, generator=g)
    assert frechet_distance(a, b) == pytest.approx(closed, rel=0.03)


def test_full_covariances_agree_with_the_eigenvalues_of_the_product():
    g = torch.Generator().manual_seed(1)
    a, b = (torch.randn(5, 5, dtype=torch.float64, generator=g) for _ in range(2))
    cov_a, cov_b = a @ a.T, b @ b.T
    mu = torch.zeros(5, dtype=torch.float64)
    # S_a S_b is similar to a PSD matrix: its eigenvalues are real and >= 0
    trace_root = torch.linalg.eigvals(cov_a @ cov_b).real.clamp(min=0).sqrt().sum()
    expected = float(cov_a.trace() + cov_b.trace() - 2 * trace_root)
    assert gaussian_frechet_distance(mu, cov_a, mu, cov_b) == pytest.approx(expected, rel=1e-8)


def test_the_distance_grows_with_added_noise():
    g = torch.Generator().manual_seed(0)
    feats, noise = torch.rand(500, 8, generator=g), torch.randn(500, 8, generator=g)
    distances = [frechet_distance(feats, feats + s * noise) for s in (0.0, 0.1, 0.3, 1.0, 3.0)]
    assert all(a < b for a, b in itertools.pairwise(distances)), distances


def test_statistics_and_shape_errors():
    mu, cov = feature_statistics(torch.tensor([[0.0, 1.0], [2.0, 3.0]]))
    assert mu.tolist() == [1.0, 2.0] and cov.tolist() == [[2.0, 2.0], [2.0, 2.0]]  # divided by N - 1
    with pytest.raises(ConfigError):
        frechet_distance(torch.rand(10, 3), torch.rand(10, 4))
