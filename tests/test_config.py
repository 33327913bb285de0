"""Configs: defaults, YAML, overrides, and one clear error for each kind of mistake."""

import pytest

from vaelab.config import compose, to_dict
from vaelab.errors import ConfigError
from vaelab.models import AEConfig, VAEConfig, config_class
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
    assert cfg.model.quantizer == quantizer and cfg.model.num_codes == 32
    assert "ema" not in to_dict(cfg)["model"]
