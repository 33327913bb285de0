"""Improved precision and recall on mixtures of well-separated modes."""

import math

import pytest
import torch

from vaelab.errors import ConfigError
from vaelab.evaluation.precision_recall import knn_radii, precision_recall


def modes(which, per_mode=100, seed=0):
    """Points drawn from N(c_m, I) for the modes m in `which` of 10, centred 30 apart on a circle.

    In 2 dimensions a few hundred points per mode cover it well; in more, k-NN balls of
    finite samples miss the tails and even two samples of one distribution score < 1.
    """
    angles = torch.arange(10) * (2 * math.pi / 10)
    centres = 50 * torch.stack([angles.cos(), angles.sin()], dim=1)
    g = torch.Generator().manual_seed(seed)
    return torch.cat([centres[m] + torch.randn(per_mode, 2, generator=g) for m in which])


def test_identical_sets_have_full_precision_and_recall():
    real = modes(range(10))
    assert precision_recall(real, real.clone()) == (1.0, 1.0)


def test_covering_half_the_modes_keeps_precision_and_halves_recall():
    real, half = modes(range(10), seed=0), modes(range(5), seed=1)
    precision, recall = precision_recall(real, half)
    assert precision > 0.93 and recall == pytest.approx(0.5, abs=0.04)
    assert min(precision_recall(real, modes(range(10), seed=2))) > 0.93  # another sample of the same
    assert precision_recall(real, half, chunk=300) == (precision, recall)  # chunking changes nothing


def test_disjoint_sets_have_neither():
    real = modes(range(10))
    assert precision_recall(real, real + 1000.0) == (0.0, 0.0)


def test_radii_skip_the_point_itself():
    points = torch.tensor([[0.0], [1.0], [3.0]])
    assert knn_radii(points, k=1).tolist() == [1.0, 1.0, 2.0]
    with pytest.raises(ConfigError):
        knn_radii(points, k=3)
