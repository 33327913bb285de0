"""Linear probe: separable codes are decoded perfectly, random codes at chance."""

import torch

from vaelab.evaluation.probe import fit_logistic_regression, linear_probe


def codes(n, seed, informative=True):
    """4 classes in 6 dimensions: class centres 3 apart (scaled by 100, to check standardising) or pure noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    centres = 3.0 * torch.eye(4, 6)
    z = torch.randn(n, 6, generator=g) * 0.5 + (centres[labels] if informative else 0)
    return 100 * z, labels


def test_separable_codes_are_decoded_perfectly():
    assert linear_probe(*codes(400, 0), *codes(400, 1)) > 0.99


def test_random_codes_are_decoded_at_chance():
    assert 0.15 < linear_probe(*codes(400, 0, informative=False), *codes(400, 1, informative=False)) < 0.4


def test_a_constant_dimension_does_no_harm():
    z, y = codes(200, 0)
    z = torch.cat([z, torch.ones(200, 1)], dim=1)
    probe = fit_logistic_regression(z, y)
    assert probe.scale[-1] == 1 and probe.accuracy(z, y) > 0.99
