"""Every config in configs/ loads, type-checks and builds its model."""

from pathlib import Path

import pytest

from vaelab.models import build_model
from vaelab.runs import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
SHAPES = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_builds_its_model(path):
    cfg = load_config(path)
    shape = SHAPES.get(cfg.data.name, (1, cfg.data.image_size, cfg.data.image_size))
    model = build_model(cfg.model, shape, num_classes=10)
    assert model.name in (cfg.model.name, "vae")  # beta-vae is a VAE with other defaults
    assert sum(p.numel() for p in model.parameters()) > 0


def test_the_configs_the_readme_names_exist():
    names = {p.stem for p in CONFIGS}
    assert {"quickstart", "mnist_ae", "mnist_vae_mlp", "mnist_vae_conv", "mnist_beta_vae", "mnist_cvae", "shapes_beta_vae", "shapes_cvae", "cifar10_conv_vae", "mnist_vqvae"} <= names
