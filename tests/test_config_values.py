"""Every config value is checked before work starts: out-of-range numbers, NaN and inf,
unknown choices, unusable files and absent devices are one-line ConfigErrors naming the key."""

import math
from datetime import timedelta
from dataclasses import fields, is_dataclass
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vaelab.cli import main
from vaelab.config import RULE, DataConfig, RunConfig, TrainConfig, build, compose
from vaelab.errors import ConfigError
from vaelab.models import MODELS, config_class
from vaelab.models.priors import PixelCNNConfig
from vaelab.nn.conv import ConvEncoder
from vaelab.nn.device import pick_device
from vaelab.runs import PriorConfig, load_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def refused(overrides, config=None):
    """The one-line message of the ConfigError that composing `overrides` raises."""
    with pytest.raises(ConfigError) as info:
        compose(config or {}, overrides, config_class)
    message = str(info.value)
    assert "\n" not in message
    return message


BAD = [  # (overrides, what the message must name)
    (["model.beta=-1"], "model.beta must be >= 0, got -1.0"),
    (["model.name=beta-vae", "model.beta=-0.5"], "model.beta"),
    (["model.name=infovae", "model.beta=-1"], "model.beta"),
    (["model.latent_dim=0"], "model.latent_dim must be >= 1, got 0"),
    (["train.epochs=-1"], "train.epochs must be >= 1, got -1"),
    (["train.epochs=0"], "train.epochs"),
    (["train.batch_size=0"], "train.batch_size"),
    (["train.eval_batch_size=0"], "train.eval_batch_size"),
    (["train.lr=-1"], "train.lr must be > 0, got -1.0"),
    (["train.lr=0"], "train.lr"),
    (["train.lr=nan"], "train.lr must be a finite number > 0, got nan"),
    (["train.lr=inf"], "train.lr must be a finite number"),
    (["train.lr=1e999"], "train.lr"),
    (["train.weight_decay=-0.1"], "train.weight_decay"),
    (["train.grad_clip=0"], "train.grad_clip"),
    (["train.grad_clip=-inf"], "train.grad_clip"),
    (["train.checkpoint_seconds=-1"], "train.checkpoint_seconds"),
    (["train.checkpoint_steps=-1"], "train.checkpoint_steps"),
    (["train.log_every=0"], "train.log_every"),
    (["train.seed=-1"], "train.seed"),
    (["train.optimizer=sgd"], "train.optimizer must be one of adam, adamw, got 'sgd'"),
    (["train.lr_schedule=step"], "train.lr_schedule"),
    (["train.nonfinite=ignore"], "train.nonfinite"),
    (["train.device=gpu"], "train.device"),
    (["train.device=cuda:x"], "train.device"),
    (["data.binarize=yes"], "data.binarize"),
    (["data.split=valid"], "data.split"),
    (["data.name=imagenet"], "data.name"),
    (["data.val=-0.1"], "data.val"),
    (["data.val=2.5"], "data.val"),
    (["data.val=nan"], "data.val"),
    (["data.limit=0"], "data.limit"),
    (["data.limit=100", "data.val=100"], "data.val"),
    (["data.image_size=0"], "data.image_size"),
    (["data.image_size=100000"], "data.image_size"),
    (["data.image_size=8"], "data.image_size must be >= 16 for shapes"),
    (["data.num_samples=0"], "data.num_samples"),
    (["data.split_seed=-2"], "data.split_seed"),
    (["model.hidden=[]"], "model.hidden"),
    (["model.hidden=[64,0]"], "model.hidden"),
    (["model.channels=[]"], "model.channels"),
    (["model.res_blocks=-1"], "model.res_blocks"),
    (["model.backbone=transformer"], "model.backbone"),
    (["model.likelihood=poisson"], "model.likelihood"),
    (["model.variance=0"], "model.variance"),
    (["model.warmup_steps=-1"], "model.warmup_steps"),
    (["model.capacity_max=-1"], "model.capacity_max"),
    (["model.capacity_steps=-1"], "model.capacity_steps"),
    (["model.gamma=-1"], "model.gamma"),
    (["model.name=infovae", "model.mmd_weight=-1"], "model.mmd_weight"),
    (["model.name=infovae", "model.kernel=cosine"], "model.kernel"),
    (["model.name=infovae", "model.kernel_scale=0"], "model.kernel_scale"),
    (["model.name=cvae", "model.num_classes=0"], "model.num_classes"),
    (["model.name=cvae", "model.label_embedding=word2vec"], "model.label_embedding"),
    (["model.name=cvae", "model.embedding_dim=0"], "model.embedding_dim"),
    (["model.name=vqvae", "model.num_codes=0"], "model.num_codes"),
    (["model.name=vqvae", "model.code_dim=0"], "model.code_dim"),
    (["model.name=vqvae", "model.quantizer.commitment=-1"], "model.quantizer.commitment must be >= 0"),
    (["model.name=vqvae", "model.quantizer.decay=1"], "model.quantizer.decay must be in (0, 1), got 1.0"),
    (["model.name=vqvae", "model.quantizer.decay=-0.5"], "model.quantizer.decay"),
    (["model.name=vqvae", "model.quantizer.name=kmeans"], "model.quantizer.name must be one of vq, ema"),
    (["model.name=vqvae", "model.quantizer.dead_code_steps=-1"], "model.quantizer.dead_code_steps"),
    (["model.name=vqvae", "model.quantizer.name=vq", "model.quantizer.decay=0.5"],
     "Key 'decay' not in 'VectorQuantizerConfig' (key: model.quantizer.decay)"),
    (["model.name=vqvae", "model.quantizer.name=fsq", "model.quantizer.levels=[8,6,5]", "model.num_codes=256"],
     "the fsq quantizer's options make 240 codes: set model.num_codes=240 (got 256)"),
    (["model.name=vqvae", "model.quantizer.name=fsq", "model.quantizer.levels=[1,6]"], "model.quantizer.levels"),
    (["model.name=vqvae", "model.quantizer.name=gumbel", "model.quantizer.temperature_end=2"],
     "model.quantizer.temperature_end must be <= model.quantizer.temperature"),
    (["model.name=vqvae2", "model.quantizer.name=residual"], "model.quantizer.name=residual stacks codes"),
    (["model.name=vqvae", "model.likelihood=gaussian-learned"], "model.likelihood"),
    (["model.name=vqvae", "model.channels=[0]"], "model.channels"),
    (["model.name=[1, 2]"], "model.name"),
]


@pytest.mark.parametrize("overrides,message", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_each_bad_value_is_a_one_line_config_error_naming_its_key(overrides, message):
    assert message in refused(overrides)


def test_image_sizes_a_conv_backbone_cannot_halve_are_refused_before_any_work():
    six = "model.channels=[8,8,8,8,8,8]"  # needs a side of 2**5 + 1 = 33
    assert "data.image_size must be >= 33" in refused(["model.backbone=conv", six, "data.image_size=32"])
    assert "data.image_size must be >= 33" in refused(["model.name=vqvae", six, "data.image_size=16"])
    assert "image side of mnist must be >= 33" in refused(["model.backbone=conv", six, "data.name=mnist"])
    assert compose({}, ["model.backbone=conv", six, "data.image_size=33"], config_class).data.image_size == 33
    assert compose({}, ["model.backbone=mlp", six, "data.image_size=16"], config_class)  # the mlp has no stages
    with pytest.raises(ConfigError, match="data.image_size must be >= 5.*cannot be halved"):
        ConvEncoder((1, 4, 4), [8, 8, 8])  # the model itself says the same


@pytest.mark.parametrize("overrides,message", [
    (["pixelcnn.kernel_size=4"], "pixelcnn.kernel_size must be an odd number >= 3, got 4"),
    (["pixelcnn.layers=-1"], "pixelcnn.layers"),
    (["pixelcnn.channels=0"], "pixelcnn.channels"),
    (["pixelcnn.embedding_dim=0"], "pixelcnn.embedding_dim"),
    (["pixelcnn.num_classes=0"], "pixelcnn.num_classes"),
    (["train.lr=-1"], "train.lr"),
    (["train.epochs=0"], "train.epochs"),
])
def test_the_prior_config_is_checked_the_same_way(overrides, message):
    with pytest.raises(ConfigError, match=message):
        build(PriorConfig(), None, overrides)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_defaults_of_every_model_pass(name):
    cfg = compose({}, [f"model.name={name}"], config_class)
    assert cfg.model.name == name and cfg.train == TrainConfig() and cfg.data == DataConfig()
    assert build(PriorConfig()) == PriorConfig() and build(PixelCNNConfig()) == PixelCNNConfig()


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shipped_config_passes(path):
    load_config(path)


@pytest.mark.parametrize("content,message", [
    (b"", "is empty"),
    (b"# only a comment\n", "is empty"),
    (b"- data\n- model\n", "not a list"),
    (b"42\n", "not a int"),
    (b"just words\n", "not a str"),
    (bytes(range(256)), "not a text file"),
    ("model: {name: vae}  # caf\u00e9\n".encode("latin-1"), "not a text file"),
    (b"model: {name: vae}\x00\n", "not valid YAML"),
])
def test_config_files_that_hold_no_mapping_are_refused_in_one_line(tmp_path, content, message):
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert "\n" not in str(info.value)


def test_devices_this_machine_lacks_are_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu") and pick_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")  # auto: CUDA, then MPS, then the CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for name in ("cuda", "cuda:0", "cuda:3"):
        with pytest.raises(ConfigError, match=f"train.device={name}: CUDA is not available"):
            pick_device(name)
    with pytest.raises(ConfigError, match="MPS is not available"):
        pick_device("mps")
    for name in ("gpu", "cuda:x", "", "meta"):
        with pytest.raises(ConfigError, match="train.device must be"):
            pick_device(name)


def test_a_cuda_index_beyond_the_gpus_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ConfigError, match="has 2 CUDA device"):
        pick_device("cuda:2")


def test_the_cli_refuses_a_bad_value_with_status_2_and_one_line(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text("data: {name: shapes, image_size: 16, num_samples: 50}\ntrain: {epochs: 1, progress: false}\n")
    assert main(["train", str(config), "train.lr=-1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "vaelab: error: train.lr must be > 0, got -1.0"
    assert not (tmp_path / "run").exists()


# ------------------------------------------------ property: any value, one of two outcomes


def keys_of(model_name):
    """(dotted key, field) for every key of a RunConfig whose model is `model_name`."""
    sections = {"data": DataConfig, "train": TrainConfig, "model": config_class(model_name)}
    return [(f"{section}.{f.name}", f) for section, cls in sections.items() for f in fields(cls)]


def values():
    """Values as text, valid and invalid: numbers of every size and sign, NaN and inf, strings,
    lists, booleans, null, and the choices fields accept."""
    words = st.sampled_from(["adam", "cosine", "stop", "skip", "none", "dynamic", "test", "mnist", "conv", "mlp",
                             "ema", "vq", "gaussian", "onehot", "imq", "auto", "cpu", "cuda:0", "folder:/nowhere"])
    numbers = st.one_of(st.integers(-10, 70), st.integers(-2**70, 2**70),
                        st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 0.5, 1.0, -0.0, 1e-300]))
    lists = st.lists(st.integers(-3, 40), max_size=4).map(lambda xs: "[" + ",".join(map(str, xs)) + "]")
    return st.one_of(numbers.map(repr), words, lists, st.sampled_from(["null", "true", "false", "''", "x y", "${oops}"]),
                     st.text(max_size=8))


def assert_inside_the_declared_ranges(cfg, where=""):
    for f in fields(cfg):
        value = vars(cfg)[f.name]
        if is_dataclass(value):
            assert_inside_the_declared_ranges(value, f"{where}{f.name}.")
        elif value is not None and RULE in f.metadata:
            assert f.metadata[RULE].accepts(value), (where + f.name, value)
            assert not isinstance(value, float) or math.isfinite(value), (where + f.name, value)


@st.composite
def overrides(draw):
    model = draw(st.sampled_from(sorted(MODELS)))
    keys = keys_of(model)
    chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique_by=lambda kf: kf[0]))
    return [f"model.name={model}", *(f"{key}={draw(values())}" for key, _ in chosen)]


@settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides())
def test_any_value_gives_a_checked_config_or_a_one_line_config_error(items):
    try:
        cfg = compose({}, items, config_class)
    except ConfigError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert isinstance(cfg, RunConfig)
    assert_inside_the_declared_ranges(cfg)


# ------------------------------------------------ property: vaelab train with any values

TINY = {"data": {"name": "shapes", "image_size": 16, "num_samples": 64, "val": 16},
        "model": {"hidden": [16], "latent_dim": 2, "channels": [4, 8], "num_codes": 4, "code_dim": 2, "res_blocks": 0},
        "train": {"epochs": 1, "batch_size": 16, "progress": False}}
# keys whose valid values could make a run long or large: drawn from small values only
SMALL = {"train.epochs", "train.batch_size", "train.eval_batch_size", "data.image_size", "model.hidden",
         "model.channels", "model.latent_dim", "model.num_codes", "model.code_dim", "model.res_blocks",
         "model.embedding_dim", "train.log_every", "train.checkpoint_steps"}
# keys never drawn: where the data come from, and how many (a drawn value could make a run long)
NOT_DRAWN = ("data.name", "data.root", "data.download", "train.tensorboard", "data.num_samples", "data.limit")


@st.composite
def train_overrides(draw):
    model = draw(st.sampled_from(sorted(MODELS)))
    keys = [k for k, _ in keys_of(model) if k not in NOT_DRAWN]
    if draw(st.booleans()):  # half the runs: only keys with small values, mostly valid, so that many train
        keys = [k for k in keys if k in SMALL]
    chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3, unique=True))
    valid = st.one_of(st.integers(1, 3).map(str), st.sampled_from(["[2]", "[3]"]))
    small = st.one_of(valid, valid, st.integers(-2, 0).map(str), st.sampled_from(["[]", "[0]", "nan", "-1.5", "x"]))
    return [f"model.name={model}", *(f"{k}={draw(small if k in SMALL else values())}" for k in chosen)]


@settings(max_examples=40, deadline=timedelta(seconds=60), database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(train_overrides())
def test_vaelab_train_with_any_values_succeeds_or_says_why_in_one_line(tmp_path, capsys, items):
    config = tmp_path / "tiny.yaml"
    model = items[0].split("=", 1)[1]
    if model == "vqvae":  # its section has no hidden/latent_dim, the others no channels/num_codes
        raw = {**TINY, "model": {k: TINY["model"][k] for k in ("channels", "num_codes", "code_dim", "res_blocks")}}
    else:
        raw = {**TINY, "model": {k: TINY["model"][k] for k in ("hidden", "latent_dim")}}
    config.write_text(yaml.safe_dump(raw))
    capsys.readouterr()
    status = main(["-q", "train", str(config), "--out", str(tmp_path / "run"), "--overwrite", *items])
    err = capsys.readouterr().err.strip().splitlines()
    assert status in (0, 2, 3), (items, status)  # 3: a value that makes training diverge, said in one line
    assert status == 0 or (len(err) == 1 and err[0].startswith("vaelab: error:")), (items, err)
