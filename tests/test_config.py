"""Configs: defaults, YAML, overrides, and one clear error for each kind of mistake."""

import pytest
import yaml

from vaelab.config import compose, to_dict
from vaelab.errors import ConfigError
from vaelab.models import AEConfig, VAEConfig, VQVAEConfig, config_class
from vaelab.models.quantizers import EMAVectorQuantizerConfig, FiniteScalarQuantizerConfig, VectorQuantizerConfig
from vaelab.runs import load_config


def test_defaults_yaml_and_overrides_merge_in_order(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: ae\n  latent_dim: 8\ntrain:\n  epochs: 3\n")
    cfg = load_config(path, ["train.epochs=5", "model.hidden=[64,32]"])
    assert isinstance(cfg.model, AEConfig) and not isinstance(cfg.model, VAEConfig)
    assert cfg.model.latent_dim == 8 and cfg.model.hidden == [64, 32]
    assert cfg.train.epochs == 5 and cfg.train.lr == 1e-3  # override, then default
    assert compose({}, (), config_class).model.name == "vae"


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["model.latnt_dim=3"], "latnt_dim"),
        (["train.epochs=many"], "train.epochs"),
        (["model.name=gan"], "unknown model 'gan'"),
        (["epochs"], "epochs"),
    ],
)
def test_mistakes_are_one_line_config_errors(overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        compose({}, overrides, config_class)
    assert "\n" not in str(info.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_round_trip_through_a_plain_dict():
    cfg = compose({"model": {"name": "vae", "backbone": "conv"}}, ["data.val=0.2"], config_class)
    again = compose(to_dict(cfg), (), config_class)
    assert again == cfg


@pytest.mark.parametrize("ema,quantizer", [(True, "ema"), (False, "vq")])
def test_a_config_of_an_earlier_version_still_opens(tmp_path, ema, quantizer):
    """vaelab 0.1.0 wrote model.ema (true/false); it is model.quantizer now."""
    path = tmp_path / "old.yaml"
    path.write_text(f"model: {{name: vqvae, ema: {str(ema).lower()}, num_codes: 32}}\n")
    cfg = load_config(path)
    assert cfg.model.quantizer.name == quantizer and cfg.model.num_codes == 32
    assert "ema" not in to_dict(cfg)["model"]


# What vaelab wrote before each quantizer had its own section: every quantizer's options, flat.
FLAT = {"name": "vqvae", "num_codes": 240, "quantizer": "fsq", "levels": [8, 6, 5], "decay": 0.9, "stages": 3,
        "gradient": "straight_through", "temperature": 2.0, "commitment": 0.5}


def test_flat_quantizer_keys_of_an_earlier_version_move_into_the_quantizers_own_section(tmp_path):
    path = tmp_path / "flat.yaml"
    path.write_text(yaml.safe_dump({"model": FLAT}))
    cfg = load_config(path)
    assert cfg.model.quantizer == FiniteScalarQuantizerConfig(levels=[8, 6, 5])  # the others' options had no effect
    model = to_dict(cfg)["model"]
    assert model["quantizer"] == {"name": "fsq", "levels": [8, 6, 5]} and not {"levels", "decay", "stages"} & model.keys()
    residual = load_config(path, ["model.quantizer=residual", "model.num_codes=16"]).model.quantizer
    assert (residual.name, residual.num_quantizers, residual.decay) == ("residual", 3, 0.9)  # stages: num_quantizers


def test_flat_overrides_name_the_quantizers_section_and_a_name_alone_picks_its_defaults():
    cfg = load_config("mnist_vqvae", ["model.decay=0.5"])
    assert cfg.model.quantizer == EMAVectorQuantizerConfig(decay=0.5)
    fsq = load_config("mnist_vqvae", ["model.quantizer=fsq", "model.levels=[4,4]", "model.num_codes=16"]).model
    assert fsq.quantizer == FiniteScalarQuantizerConfig(levels=[4, 4])  # the file's ema options are dropped
    kept = load_config("mnist_rvq", ["model.quantizer.name=residual", "model.quantizer.decay=0.5"]).model.quantizer
    assert (kept.num_quantizers, kept.decay) == (2, 0.5)  # .name merges into the file's section
    with pytest.raises(ConfigError, match=r"Key 'decay' not in 'VectorQuantizerConfig'"):
        load_config("mnist_vqvae", ["model.quantizer.name=vq"])  # the file's ema section keeps its decay


def test_a_quantizer_section_round_trips_and_is_checked_in_python():
    cfg = load_config("mnist_gumbel")
    assert compose(to_dict(cfg), (), config_class) == cfg
    assert VQVAEConfig(quantizer="vq").quantizer == VectorQuantizerConfig()
    with pytest.raises(ConfigError, match=r"^model.quantizer.decay must be in \(0, 1\), got 1.0$"):
        EMAVectorQuantizerConfig(decay=1.0)
    with pytest.raises(ConfigError, match="the fsq quantizer's options make 1000 codes: set model.num_codes=1000"):
        VQVAEConfig(quantizer="fsq")
    with pytest.raises(ConfigError, match="model.quantizer must be a quantizer's section"):
        VQVAEConfig(quantizer=3)
