"""Latent scatter, manifold grid and training curves: PNGs of the right kind and size."""

import sys
from statistics import NormalDist

import numpy as np
import pytest
import torch
from PIL import Image

from vaelab.config import compose
from vaelab.data import ImageDataset
from vaelab.errors import CapabilityError
from vaelab.models import build_model, config_class
from vaelab.plots.curves import loss_terms, save_training_curves
from vaelab.plots.latent_space import latent_points, pca_2d, project_2d, save_latent_scatter
from vaelab.plots.manifold import manifold_axis, save_manifold_grid


def tiny_model(name="vae", latent_dim=2, num_classes=3):
    """An untrained MLP model for 1x8x8 images: the pictures need no training to be drawn."""
    cfg = compose({}, [f"model.name={name}", f"model.latent_dim={latent_dim}", "model.hidden=[16]"], config_class)
    torch.manual_seed(0)
    return build_model(cfg.model, (1, 8, 8), num_classes).eval()


def tiny_data(n=50):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 8, 8), generator=g, dtype=torch.uint8)
    return ImageDataset(images, torch.arange(n) % 3, name="tiny", class_names=["a", "b", "c"])


def description(path) -> str:
    """The 'Description' text the plots write into their PNG (what the axes or panels are)."""
    with Image.open(path) as im:
        return im.text["Description"]


@pytest.mark.parametrize("name", ["ae", "vae", "cvae"])
def test_latent_points_are_one_code_per_image(name):
    model = tiny_model(name, latent_dim=5)
    codes, labels = latent_points(model, tiny_data(), n=40, batch_size=16)  # batches of 16, 16, 8
    assert codes.shape == (40, 5) and torch.equal(labels, torch.arange(40) % 3)
    x = tiny_data().images[:40].float() / 255
    y = labels if model.conditional else None  # a conditional model encodes with the labels
    assert torch.allclose(codes, model.encode(x, y), atol=1e-5)


def test_pca_finds_the_main_direction():
    g = np.random.default_rng(0)
    direction = np.array([3.0, -1.0, 0.0, 2.0, 1.0]) / np.sqrt(15)
    t = g.normal(0, 5, 500)
    codes = 7 + t[:, None] * direction + g.normal(0, 0.1, (500, 5))  # offset: PCA must centre
    xy, ratio = pca_2d(codes)
    assert abs(np.corrcoef(xy[:, 0], t)[0, 1]) > 0.999
    assert ratio[0] > 0.99 and ratio[1] < 0.01
    assert np.allclose(xy.mean(0), 0, atol=1e-9)
    assert np.allclose(pca_2d(codes)[0], xy)  # deterministic, signs included


def test_two_dimensional_codes_are_drawn_as_they_are_and_others_by_pca():
    codes = torch.randn(100, 2)
    direct = project_2d(codes)
    assert direct.method == "direct" and (direct.xlabel, direct.ylabel) == ("z1", "z2")
    assert np.allclose(direct.xy, codes.numpy())
    pca = project_2d(torch.randn(100, 6))
    assert pca.method == "pca" and pca.xlabel.startswith("PC1 (") and "% of variance" in pca.ylabel
    assert project_2d(codes, "pca").method == "pca"
    with pytest.raises(CapabilityError):
        project_2d(torch.randn(10, 4, 2, 2))  # spatial codes are not points


def test_tsne_without_scikit_learn_falls_back_to_pca_and_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # `import sklearn...` now raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    projection = project_2d(torch.randn(50, 4), "tsne")
    assert projection.method == "pca" and "scikit-learn" in projection.note


@pytest.mark.parametrize("latent_dim,method", [(2, "direct"), (7, "pca")])
def test_latent_scatter_writes_a_png_with_the_right_axes(tmp_path, latent_dim, method):
    codes, labels = torch.randn(300, latent_dim), torch.arange(300) % 3
    path = save_latent_scatter(codes, labels, tmp_path / "sub" / "latent.png", class_names=["a", "b", "c"])
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] >= 400 and im.size[1] >= 400
    assert f"method={method}" in description(path)
    assert ("x=z1" if method == "direct" else "x=PC1") in description(path)


def drawn_colours(path) -> set:
    """The distinct colours of a PNG's pixels, its white background left out."""
    with Image.open(path) as im:
        pixels = np.asarray(im.convert("RGB")).reshape(-1, 3)
    return {tuple(int(v) for v in p) for p in np.unique(pixels, axis=0)} - {(255, 255, 255)}


def test_latent_scatter_without_labels_or_with_many_classes(tmp_path):
    plain = save_latent_scatter(torch.randn(50, 3), None, tmp_path / "a.png")
    many = save_latent_scatter(torch.randn(60, 3), torch.arange(60) % 30, tmp_path / "b.png")
    for path in (plain, many):
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size[0] >= 400 and im.size[1] >= 400
    # not blank: points are drawn, in one blue without labels, in a colour scale with 30 classes
    blues = {c for c in drawn_colours(plain) if c[2] > c[0] + 60 and c[2] > c[1] + 30}
    assert blues, "no blue points drawn"
    assert len(drawn_colours(many)) > len(drawn_colours(plain)) + 20  # the viridis scale and its colour bar


def test_manifold_axis_is_the_prior_quantiles():
    probabilities = [0.05, 0.275, 0.5, 0.725, 0.95]  # evenly spaced over the central 90 %
    expected = torch.tensor([NormalDist().inv_cdf(p) for p in probabilities])
    assert torch.allclose(manifold_axis(steps=5), expected, atol=1e-5)
    assert manifold_axis(steps=5)[0] == pytest.approx(-1.6449, abs=1e-4)


@pytest.mark.parametrize("name", ["vae", "cvae"])
def test_manifold_grid_is_one_image_of_steps_by_steps_tiles(tmp_path, name):
    path = save_manifold_grid(tiny_model(name), tmp_path / "manifold.png", steps=6)
    with Image.open(path) as im:
        scale = 400 // (6 * 8)  # small images are enlarged: 8 here
        assert im.size == ((6 * (8 + 2) + 2) * scale,) * 2  # 6 tiles of 8 px and 2 px gaps, per side


def test_manifold_grid_refuses_a_latent_space_that_is_not_2d(tmp_path):
    with pytest.raises(CapabilityError, match="2-D latent space"):
        save_manifold_grid(tiny_model(latent_dim=3), tmp_path / "manifold.png")
    assert not (tmp_path / "manifold.png").exists()


def records(epochs=4):
    return [
        {"epoch": e, "step": 10 * e, "lr": 1e-3, "train/loss": 9.0 / e, "train/recon": 5.0, "train/kl": 2.0,
         "train/mmd": 0.01, "train/nelbo": 7.0, "train/seconds": 0.5, "val/loss": 10.0 / e, "val/recon": 6.0,
         "val/kl": 2.5, "val/mmd": 0.02, "val/nelbo": 8.5}
        for e in range(1, epochs + 1)
    ]


def test_loss_terms_are_every_term_and_nothing_else():
    assert loss_terms(records()) == ["loss", "recon", "kl", "mmd", "nelbo"]
    assert loss_terms([{"epoch": 1, "train/loss": 1.0, "train/seconds": 2.0, "val/usage": 0.5}]) == ["loss", "usage"]


def test_training_curves_have_a_panel_per_term(tmp_path):
    path = save_training_curves(records(), tmp_path / "curves.png")
    assert description(path) == "terms=loss,recon,kl,mmd,nelbo"
    with Image.open(path) as im:
        wide = im.size
    one = save_training_curves([{"epoch": 1, "train/recon": 3.0}], tmp_path / "one.png")  # one point, train only
    with Image.open(one) as im:
        assert im.size[0] < wide[0] and im.size[1] < wide[1]  # 1 panel vs 3 x 2
    assert description(one) == "terms=recon"
