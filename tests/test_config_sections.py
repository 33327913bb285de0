"""A config made in Python checks itself: every section refuses, at construction, by
`dataclasses.replace` and by assignment, each value its fields' rules refuse, with the
same one line the command line prints for that key."""

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaelab.cli import main
from vaelab.config import DataConfig, RunConfig, Section, TrainConfig, check, compose, field_specs
from vaelab.errors import ConfigError
from vaelab.models import MODELS, config_class
from vaelab.models.priors import PixelCNNConfig
from vaelab.models.quantizers import QUANTIZER_CONFIGS, quantizer_section
from vaelab.runs import PriorConfig

MODEL_SECTIONS = {name: cls for name, (_, cls) in MODELS.items()}
SECTIONS = [DataConfig, TrainConfig, PixelCNNConfig, *dict.fromkeys(MODEL_SECTIONS.values()),
            *QUANTIZER_CONFIGS.values()]
RULED = [(cls, name) for cls in SECTIONS for name, spec in field_specs(cls).items() if spec.rule is not None]

# Values of each kind a field can have; the property keeps those the field's rule refuses.
VALUES = {
    int: st.integers(-(2**64), 2**64),
    float: st.floats(allow_nan=True, allow_infinity=True),
    str: st.from_regex(r"x[a-z_]{0,8}", fullmatch=True),  # no YAML keyword (null, true, nan) to retype it
    list: st.lists(st.integers(-3, 3), max_size=4),
}


def refusal(make) -> str:
    """The one-line message of the ConfigError that `make()` raises."""
    with pytest.raises(ConfigError) as info:
        make()
    message = str(info.value)
    assert "\n" not in message
    return message


def override(value) -> str:
    """`value` as a command line writes it."""
    if isinstance(value, list):
        return "[" + ",".join(map(str, value)) + "]"
    return repr(value) if isinstance(value, float) else str(value)


def refused_value(data, cls, name):
    spec = field_specs(cls)[name]
    return data.draw(VALUES[spec.kind].filter(lambda v: spec.rule.refusal(v) is not None))


def test_every_config_section_checks_itself():
    assert all(issubclass(cls, Section) for cls in SECTIONS + [RunConfig, PriorConfig])
    assert len(RULED) > 100  # every model's keys are in the property below


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.data())
def test_every_section_refuses_every_value_its_rules_refuse_with_the_command_lines_words(data):
    cls, name = data.draw(st.sampled_from(RULED))
    value = refused_value(data, cls, name)
    message = refusal(lambda: cls(**{name: value}))
    assert message.startswith(f"{cls.key_prefix}{name} must be ")
    assert refusal(lambda: dataclasses.replace(cls(), **{name: value})) == message
    made = cls()
    before = getattr(made, name)
    assert refusal(lambda: setattr(made, name, value)) == message
    assert getattr(made, name) == before  # a refused assignment changes nothing
    if cls.key_prefix in ("data.", "train.", "model."):
        model = next((n for n, c in MODEL_SECTIONS.items() if c is cls), "vae")
        assert refusal(lambda: compose({}, [f"model.name={model}", f"{cls.key_prefix}{name}={override(value)}"],
                                       config_class)) == message
    if cls.key_prefix == "model.quantizer." and name != "name":  # a wrong name picks no section: tested apart
        chosen = ["model.name=vqvae", f"model.quantizer.name={cls().name}"]
        assert refusal(lambda: compose({}, chosen + [f"model.quantizer.{name}={override(value)}"],
                                       config_class)) == message


@pytest.mark.parametrize("make, message", [
    (lambda: MODEL_SECTIONS["vae"](latent_dim=0), "model.latent_dim must be >= 1, got 0"),
    (lambda: MODEL_SECTIONS["vae"](beta=-3.0), "model.beta must be >= 0, got -3.0"),
    (lambda: MODEL_SECTIONS["vae"](latent_dim="16"), "model.latent_dim must be an integer, got '16'"),
    (lambda: MODEL_SECTIONS["vae"](latent_dim=True), "model.latent_dim must be an integer, got True"),
    (lambda: MODEL_SECTIONS["vae"](hidden=[64, 2.5]), "model.hidden must be a list of integers, got [64, 2.5]"),
    (lambda: MODEL_SECTIONS["vae"](latent_dim=None), "model.latent_dim must be an integer, got None"),
    (lambda: TrainConfig(lr=math.nan), "train.lr must be a finite number > 0, got nan"),
    (lambda: PixelCNNConfig(kernel_size=4), "pixelcnn.kernel_size must be an odd number >= 3, got 4"),
    (lambda: PriorConfig(train=TrainConfig(epochs=0)), "train.epochs must be >= 1, got 0"),
])
def test_a_value_made_in_python_is_refused_with_its_key(make, message):
    assert refusal(make) == message


def test_numbers_are_stored_as_their_fields_type():
    cfg = MODEL_SECTIONS["vae"](beta=2, hidden=(64, 32))
    assert cfg.beta == 2.0 and isinstance(cfg.beta, float)
    assert cfg.hidden == [64, 32] and isinstance(cfg.hidden, list)


def test_rules_across_fields_run_at_construction_and_replace():
    message = refusal(lambda: MODEL_SECTIONS["vae"](iw_samples=5, beta=2.0))
    assert message.startswith("model.iw_samples=5 trains on the importance-weighted bound")
    assert refusal(lambda: dataclasses.replace(MODEL_SECTIONS["vae"](iw_samples=5), beta=2.0)) == message
    fsq = quantizer_section("fsq", levels=[8, 6, 5])
    assert "model.num_codes=240" in refusal(lambda: MODEL_SECTIONS["vqvae"](quantizer=fsq))


def test_rules_across_sections_run_when_the_run_config_is_built():
    deep = MODEL_SECTIONS["vqvae"](channels=[8] * 5)  # alone it is fine: no image side to halve yet
    message = refusal(lambda: RunConfig(data=DataConfig(image_size=16), model=deep))
    assert message.startswith("data.image_size must be >= 17 for the 5 stride-2 stages of model.channels")
    cli = refusal(lambda: compose({}, ["model.name=vqvae", "model.channels=[8,8,8,8,8]", "data.image_size=16"],
                                  config_class))
    assert cli == message


def test_check_finds_what_assignments_made_together():
    cfg = MODEL_SECTIONS["vae"]()
    cfg.iw_samples = 5  # each value alone is fine, so each assignment is taken
    cfg.beta = 2.0
    assert refusal(lambda: check(cfg)).startswith("model.iw_samples=5 trains on the importance-weighted bound")


def test_the_command_line_prints_the_same_line(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("model:\n  name: vae\n  beta: -3.0\n")
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip() == "vaelab: error: " + (refusal(lambda: MODEL_SECTIONS["vae"](beta=-3.0)))
