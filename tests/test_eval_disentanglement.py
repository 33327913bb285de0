"""MIG, beta-VAE and FactorVAE scores: ~1 for codes that are the factors, ~chance for noise."""

import math

import pytest
import torch

from vaelab.data.shapes import FACTOR_SIZES
from vaelab.evaluation.disentanglement import (
    beta_vae_score,
    factor_vae_score,
    mig,
    mutual_information,
    sample_factors,
)

SMALL = dict(n_train=200, n_test=200, batch_size=16)


def factors_as_images(factors):
    """A stand-in renderer: the "image" of a factor row is the row itself, as floats."""
    return factors.float()


def true_factors(x):
    """An encoder whose codes are the factor values (one latent per factor)."""
    return x


def noise_encoder(seed=0):
    g = torch.Generator().manual_seed(seed)
    return lambda x: torch.randn(len(x), 6, generator=g)


def test_mutual_information_of_a_variable_with_itself_is_its_entropy():
    v = torch.arange(1000) % 4
    assert mutual_information(v, v) == pytest.approx(math.log(4))
    assert mutual_information(v, torch.zeros(1000, dtype=torch.long)) == 0


def test_mig_is_one_for_the_factors_themselves_and_near_zero_for_noise():
    factors = sample_factors(5000, FACTOR_SIZES, torch.Generator().manual_seed(0))
    score, per_factor = mig(factors.float(), factors, bins=40)  # 40 bins: every factor value its own bin
    assert score > 0.97 and per_factor.shape == (5,)
    assert mig(torch.randn(5000, 6, generator=torch.Generator().manual_seed(1)), factors)[0] < 0.05
    duplicated = torch.cat([factors[:, :1], factors], dim=1).float()  # two latents hold the shape
    assert mig(duplicated, factors, bins=40)[1][0] == pytest.approx(0.0, abs=1e-9)


def test_beta_vae_score_is_one_for_the_factors_and_chance_for_noise():
    perfect = beta_vae_score(true_factors, render=factors_as_images, **SMALL)
    chance = beta_vae_score(noise_encoder(), render=factors_as_images, **SMALL)
    assert perfect > 0.97 and 0.1 < chance < 0.35


def test_factor_vae_score_is_one_for_the_factors_and_chance_for_noise():
    perfect = factor_vae_score(true_factors, render=factors_as_images, n_variance=1000, **SMALL)
    chance = factor_vae_score(noise_encoder(), render=factors_as_images, n_variance=1000, **SMALL)
    assert perfect == 1.0 and 0.1 < chance < 0.35
    assert factor_vae_score(lambda x: torch.zeros(len(x), 3), render=factors_as_images, **SMALL) == 0.0


def centroid_encoder(images):
    """A hand-made representation of shapes images [n, 1, S, S]: ink area and its centre (x, y)."""
    ink = images[:, 0]
    mass = ink.sum((1, 2)).clamp(min=1)
    grid = torch.arange(ink.shape[-1], dtype=torch.float32)
    return torch.stack([mass, (ink.sum(1) * grid).sum(1) / mass, (ink.sum(2) * grid).sum(1) / mass], dim=1)


def test_on_rendered_shapes_an_encoder_of_scale_and_position_beats_chance():
    # It captures 3 of the 5 factors (scale, pos_x, pos_y): about 0.6 is the most it can score.
    settings = dict(image_size=16, n_train=100, n_test=100, batch_size=8)
    assert factor_vae_score(centroid_encoder, n_variance=400, **settings) > 0.45
    assert beta_vae_score(centroid_encoder, **settings) > 0.45
