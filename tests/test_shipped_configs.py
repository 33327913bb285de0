"""Every shipped config (src/vaelab/configs/, linked as configs/) loads, type-checks and builds
the model it says, which runs; a shipped config is found by name from any folder."""

from pathlib import Path

import pytest
import torch

from vaelab.models import AE, CVAE, HVAE, VAE, VQVAE, CodeGridModel, InfoVAE, LatentVectorModel, build_model
from vaelab.models.factorvae import FactorVAE
from vaelab.models.oivae import OIVAE
from vaelab.models.tcvae import BetaTCVAE
from vaelab.models.vqvae2 import VQVAE2
from vaelab.errors import ConfigError
from vaelab.runs import load_config
from vaelab.runs.shipped import SHIPPED, shipped_configs

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(SHIPPED.glob("*.yaml"))
SHAPES = {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}

# config -> (model class, the latent of one image: a vector of D or a grid of h x w codes)
EXPECTED = {
    "cifar10_conv_vae": (VAE, (128,)),
    "mnist_ae": (AE, (16,)),
    "mnist_beta_vae": (VAE, (16,)),
    "mnist_cvae": (CVAE, (16,)),
    "mnist_hvae": (HVAE, (16,)),  # its top layer
    "mnist_iwae": (VAE, (16,)),
    "mnist_oivae": (OIVAE, (16,)),
    "mnist_infovae": (InfoVAE, (16,)),
    "mnist_vae_conv": (VAE, (16,)),
    "mnist_vae_mlp": (VAE, (16,)),
    "mnist_vamp": (VAE, (16,)),
    "mnist_vqvae": (VQVAE, (7, 7)),
    "mnist_vqvae_rotation": (VQVAE, (7, 7)),
    "mnist_fsq": (VQVAE, (7, 7)),
    "mnist_cosine_vq": (VQVAE, (7, 7)),
    "mnist_gumbel": (VQVAE, (7, 7)),
    "mnist_rvq": (VQVAE, (2, 7, 7)),  # two stacked residual codes per position
    "mnist_vqvae2": (VQVAE2, (16 + 49,)),  # a 4x4 top grid and a 7x7 bottom grid, joined
    "quickstart": (VAE, (10,)),
    "shapes_beta_vae": (VAE, (10,)),
    "shapes_beta_tcvae": (BetaTCVAE, (10,)),
    "shapes_factorvae": (FactorVAE, (10,)),
    "shapes_cvae": (CVAE, (10,)),
}


def test_every_config_has_an_expectation():
    assert {p.stem for p in CONFIGS} == set(EXPECTED)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_builds_its_model_and_one_batch_has_finite_terms(path):
    cfg = load_config(path)
    model_class, latent = EXPECTED[path.stem]
    shape = SHAPES.get(cfg.data.name, (1, cfg.data.image_size, cfg.data.image_size))
    torch.manual_seed(0)
    model = build_model(cfg.model, shape, num_classes=10).eval()  # eval: no k-means initialisation on 2 images
    assert type(model) is model_class
    x = torch.rand(2, *shape).round() if cfg.model.likelihood == "bernoulli" else torch.rand(2, *shape)
    y = torch.tensor([1, 7])
    with torch.no_grad():
        if isinstance(model, CodeGridModel):
            assert model.encode_codes(x).shape == (2, *latent) and model.code_shape == latent
        else:
            assert isinstance(model, LatentVectorModel) and model.encode(x, y).shape == (2, *latent)
        out = model(x, y)
    assert out.loss.shape == () and torch.isfinite(out.loss)
    assert out.terms and all(torch.isfinite(v) for v in out.terms.values())
    assert model.reconstruct(x, y).shape == x.shape


def test_the_configs_the_readme_names_exist():
    names = {p.stem for p in CONFIGS}
    assert {"quickstart", "mnist_ae", "mnist_vae_mlp", "mnist_vae_conv", "mnist_beta_vae", "mnist_cvae", "shapes_beta_vae", "shapes_cvae", "cifar10_conv_vae", "mnist_vqvae"} <= names


def test_the_repository_configs_folder_is_the_packages():
    assert (ROOT / "configs").resolve() == SHIPPED.resolve() == ROOT / "src/vaelab/configs"


def test_each_shipped_config_says_in_one_line_what_it_trains():
    described = shipped_configs()
    assert set(described) == set(EXPECTED)
    assert all(10 <= len(text) <= 90 and "\n" not in text for text in described.values()), described


def test_a_shipped_config_is_found_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = load_config(SHIPPED / "quickstart.yaml")
    assert load_config("quickstart") == shipped == load_config("quickstart.yaml")
    assert load_config("quickstart", ["model.latent_dim=3"]).model.latent_dim == 3


def test_a_file_that_exists_wins_over_the_shipped_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quickstart.yaml").write_text("data: {name: shapes}\nmodel: {name: vae, latent_dim: 3}\n")
    assert load_config("quickstart.yaml").model.latent_dim == 3
    assert load_config("quickstart").model.latent_dim == 10  # no file named quickstart: the shipped one


@pytest.mark.parametrize("given,message", [
    ("no_such_config", "config file no_such_config not found, nor a shipped config named no_such_config (list them: vaelab configs)"),
    ("configs/quickstart.yaml", "config file configs/quickstart.yaml not found (the shipped one is named without a folder: quickstart)"),
    ("elsewhere/no_such.yaml", "config file elsewhere/no_such.yaml not found"),
])
def test_an_unknown_config_is_one_line_saying_where_to_look(given, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(given)
    assert str(info.value) == message
