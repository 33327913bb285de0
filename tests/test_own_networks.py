"""Your own networks in a model of the family: checked once when the model is built, trained
through `vaelab.train`, scored, and opened again from the run folder when passed back in."""

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import vaelab
from vaelab.cli import main
from vaelab.config import RunConfig, TrainConfig
from vaelab.data import DataSplits, ImageDataset
from vaelab.errors import ConfigError
from vaelab.evaluation import importance_weighted_nll
from vaelab.models import MODELS, build_model, config_class
from vaelab.models.quantizers import EMAVectorQuantizerConfig
from user_networks import Decoder, Encoder, GridDecoder, GridEncoder

NO_KMEANS = EMAVectorQuantizerConfig(kmeans_init=False)  # batches smaller than the codebook

SHAPE = (3, 32, 32)
GAUSSIAN_FAMILY = ["vae", "beta-vae", "cvae", "infovae", "beta-tcvae", "factorvae", "ae", "hvae"]


def images(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ImageDataset(torch.randint(0, 256, (n, *SHAPE), dtype=torch.uint8, generator=g),
                        labels=torch.randint(0, 3, (n,), generator=g), name="random")


def decoder_for(name):
    cfg = config_class(name)(latent_dim=8) if name != "hvae" else config_class(name)(latent_dims=[8, 4])
    label_dim = 3 if name == "cvae" else 0  # one-hot labels join z at the decoder's input
    return cfg, Decoder(8 + label_dim)


def test_every_model_of_the_family_is_listed_here():
    assert set(MODELS) == {*GAUSSIAN_FAMILY, "oi-vae", "vqvae", "vqvae2"}


@pytest.mark.parametrize("name", GAUSSIAN_FAMILY)
def test_a_flat_latent_model_runs_your_encoder_and_decoder(name):
    cfg, decoder = decoder_for(name)
    encoder = Encoder()
    model = build_model(cfg, SHAPE, 3, encoder=encoder, decoder=decoder)
    assert model.encoder is encoder and model.decoder is decoder
    assert model.config.backbone == "custom" and cfg.backbone == "mlp"  # the caller's config is not changed
    data = images(8)
    x, y = data.images.float() / 255, data.labels
    out = model(x, y)
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in decoder.parameters())


def test_vqvae2_runs_your_bottom_encoder_and_decoder_under_its_own_top_level():
    encoder = nn.Sequential(nn.Conv2d(3, 12, 4, 2, 1), nn.ReLU(), nn.Conv2d(12, 12, 4, 2, 1))  # -> [B, 12, 8, 8]
    decoder = nn.Sequential(nn.ConvTranspose2d(8, 12, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(12, 3, 4, 2, 1))
    cfg = config_class("vqvae2")(code_dim=4, num_codes=16, top_channels=[8], quantizer=NO_KMEANS)
    model = build_model(cfg, SHAPE, encoder=encoder, decoder=decoder)
    assert model.grids == ((4, 4), (8, 8)) and model.config.backbone == "custom"
    x = images(4).images.float() / 255
    assert model.encode_codes(x).shape == (4, 16 + 64) and model(x).loss.isfinite()
    with pytest.raises(ConfigError, match=r"the decoder returned \[2, 3, 16, 16\] for both levels' vectors "
                                          r"\[2, 8, 8, 8\]; the gaussian likelihood needs"):
        build_model(cfg, SHAPE, encoder=encoder, decoder=nn.ConvTranspose2d(8, 3, 4, 2, 1))


def test_the_oi_vae_takes_your_encoder_and_keeps_its_generators():
    model = build_model(config_class("oi-vae")(latent_dim=8, patch_size=8), SHAPE, encoder=Encoder())
    assert model(images(4).images.float() / 255).loss.isfinite()
    with pytest.raises(ConfigError, match="oi-vae builds its own decoder: pass only your encoder"):
        build_model(config_class("oi-vae")(latent_dim=8, patch_size=8), SHAPE, encoder=Encoder(), decoder=Decoder())


def test_a_vqvae_quantizes_the_grid_your_encoder_makes():
    model = build_model(config_class("vqvae")(code_dim=4, num_codes=16), SHAPE, encoder=GridEncoder(),
                        decoder=GridDecoder())
    assert model.grid == (8, 8)
    x = images(8).images.float() / 255
    assert model.encode_codes(x).shape == (8, 8, 8)
    assert model(x).loss.isfinite()


@pytest.mark.parametrize("build, message", [
    (lambda: build_model(config_class("vae")(latent_dim=8), SHAPE, encoder=Encoder(), decoder=nn.Linear(8, 3072)),
     "the decoder returned [2, 3072] for z [2, 8]; the bernoulli likelihood needs its parameters for every pixel, "
     "[2, 3, 32, 32] (B, C, H, W)"),
    (lambda: build_model(config_class("vae")(latent_dim=8), SHAPE, encoder=nn.Conv2d(3, 4, 3), decoder=Decoder()),
     "the encoder returned [2, 4, 30, 30] for x [2, 3, 32, 32]; the model needs features [B, F]"),
    (lambda: build_model(config_class("vae")(latent_dim=4), SHAPE, encoder=Encoder(), decoder=Decoder()),
     "the decoder failed on z [2, 4]: mat1 and mat2 shapes cannot be multiplied (2x4 and 8x2048)"),
    (lambda: build_model(config_class("vae")(latent_dim=8), SHAPE, encoder=Encoder()),
     "your networks replace the built-in ones together: pass encoder and decoder (the decoder is missing)"),
    (lambda: build_model(config_class("vqvae")(code_dim=8), SHAPE, encoder=GridEncoder(), decoder=GridDecoder()),
     "the encoder returned [2, 4, 8, 8] for x [2, 3, 32, 32]; the quantizer needs a grid [B, 8, h, w] "
     "(model.code_dim = 8)"),
    (lambda: build_model(config_class("vae")(backbone="custom"), SHAPE),
     "model.backbone=custom: this vae runs your own networks; pass them (encoder=..., decoder=...), "
     "e.g. vaelab.load(RUN, encoder=MyEncoder(), decoder=MyDecoder())"),
])
def test_networks_that_do_not_fit_are_refused_once_in_the_models_words(build, message):
    with pytest.raises(ConfigError) as info:
        build()
    assert str(info.value) == message


def test_the_check_leaves_your_networks_training_flags_as_they_were():
    encoder, decoder = Encoder().train(), Decoder().train()
    encoder.net[0].eval()
    build_model(config_class("vae")(latent_dim=8), SHAPE, encoder=encoder, decoder=decoder)
    assert encoder.training and decoder.training and not encoder.net[0].training


def run_config(model):
    return RunConfig(model=model.config, train=TrainConfig(epochs=2, batch_size=16, progress=False))


@pytest.mark.parametrize("kind", ["vae", "vqvae"])
def test_a_model_with_your_networks_trains_resumes_scores_and_opens_again(tmp_path, kind):
    torch.manual_seed(0)
    if kind == "vae":
        model = build_model(config_class("vae")(latent_dim=8), SHAPE, encoder=Encoder(), decoder=Decoder())
    else:
        model = build_model(config_class("vqvae")(code_dim=4, num_codes=16, quantizer=NO_KMEANS), SHAPE,
                            encoder=GridEncoder(), decoder=GridDecoder())
    data = DataSplits(images(48), images(16, seed=1))
    result = vaelab.train(run_config(model), tmp_path / "run", data=data, model=model)
    losses = [line["train/loss"] for line in result.history]
    assert losses[-1] < losses[0]
    assert (tmp_path / "run" / "reconstructions.png").is_file()
    again = vaelab.load(tmp_path / "run", encoder=GridEncoder() if kind == "vqvae" else Encoder(),
                        decoder=GridDecoder() if kind == "vqvae" else Decoder())
    x = data.val.images[:4]
    assert torch.equal(again.reconstruct(x.float() / 255), result.model.eval().reconstruct(x.float() / 255))
    if kind == "vae":
        nll = importance_weighted_nll(again, x, k=8, progress=False)
        assert nll.shape == (4,) and torch.isfinite(nll).all()
        assert again.sample(3).shape == (3, *SHAPE)
        fresh = build_model(config_class("vae")(latent_dim=8), SHAPE, encoder=Encoder(), decoder=Decoder())
        longer = dataclasses.replace(run_config(model), train=TrainConfig(epochs=3, batch_size=16, progress=False))
        resumed = vaelab.train(longer, tmp_path / "run", resume=True, data=data, model=fresh)
        assert [line["epoch"] for line in resumed.history] == [1, 2, 3]


def test_a_folder_of_your_networks_is_refused_without_them(tmp_path, capsys):
    model = build_model(config_class("vae")(latent_dim=8), SHAPE, encoder=Encoder(), decoder=Decoder())
    vaelab.train(run_config(model), tmp_path / "run", data=DataSplits(images(32), images(16, seed=1)), model=model)
    with pytest.raises(ConfigError, match="model.backbone=custom"):
        vaelab.load(tmp_path / "run")
    capsys.readouterr()
    assert main(["sample", str(tmp_path / "run"), "--out", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vaelab: error: model.backbone=custom: this vae runs your own networks") and "\n" not in err
    assert main(["info", str(tmp_path / "run")]) == 0  # what needs no model is still told
    assert "model:  vae with your own networks (model.backbone: custom" in capsys.readouterr().out


def test_a_new_process_opens_the_run_with_the_same_classes(tmp_path):
    model = build_model(config_class("vae")(latent_dim=8), SHAPE, encoder=Encoder(), decoder=Decoder())
    vaelab.train(run_config(model), tmp_path / "run", data=DataSplits(images(32), images(16, seed=1)), model=model)
    script = textwrap.dedent(f"""
        import sys, torch, vaelab
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from user_networks import Decoder, Encoder
        model = vaelab.load({str(tmp_path / 'run')!r}, encoder=Encoder(), decoder=Decoder())
        print(tuple(model.sample(2, generator=torch.Generator().manual_seed(0)).shape))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(2, 3, 32, 32)"


def test_your_networks_train_data_parallel_with_the_same_weights_on_every_process(tmp_path):
    from test_distributed import TORCHRUN, run

    result = run([*TORCHRUN, str(Path(__file__).with_name("ddp_own_networks.py")), str(tmp_path)])
    assert result.returncode == 0, result.stdout + result.stderr[-1500:]
    assert result.stdout.count("identical") == 2
    assert vaelab.run_config(tmp_path / "vqvae").model.backbone == "custom"


def test_your_networks_train_under_bf16_autocast(tmp_path):
    model = build_model(config_class("vae")(latent_dim=8), SHAPE, encoder=Encoder(), decoder=Decoder())
    cfg = RunConfig(model=model.config, train=TrainConfig(epochs=1, batch_size=16, progress=False, precision="bf16"))
    result = vaelab.train(cfg, tmp_path / "run", data=images(32).images, model=model)
    assert all(torch.isfinite(torch.tensor(v)) for k, v in result.history[-1].items() if k.startswith("train/"))


def test_the_explorer_opens_a_run_of_your_networks_and_data_from_python(tmp_path):
    from vaelab.explore.session import ExploredRun

    model = build_model(config_class("vae")(latent_dim=8), SHAPE, encoder=Encoder(), decoder=Decoder())
    data = images(40)
    vaelab.train(run_config(model), tmp_path / "run", data=data.images, labels=data.labels, model=model)
    with pytest.raises(ConfigError, match="model.backbone=custom"):
        ExploredRun(tmp_path / "run", "mine")
    explored = ExploredRun(tmp_path / "run", "mine", data=data.images, labels=data.labels, encoder=Encoder(),
                           decoder=Decoder())
    assert len(explored.images) == 4  # data.val = 0.1 of 40: the same held-out part as training's
    assert explored.codes.shape == (4, 8) and len(explored.decode([[0.0] * 8])) == 1


def test_the_report_of_a_run_of_your_networks_says_why_it_shows_no_model(tmp_path):
    from vaelab.report.html import write_report

    model = build_model(config_class("vae")(latent_dim=8), SHAPE, encoder=Encoder(), decoder=Decoder())
    vaelab.train(run_config(model), tmp_path / "run", data=images(32).images, model=model)
    page = write_report([tmp_path / "run"], tmp_path / "report.html").read_text()
    assert "model not loaded: model.backbone=custom: this vae runs your own networks" in page
    assert "training curves" in page  # what needs no model is still there
