"""Typed run configs.

A run is described by one `RunConfig`: what data, which model, how to train. Each
section is a dataclass, so an editor completes it and OmegaConf checks it: an unknown
key or a value of the wrong type is a `ConfigError` naming the full key.

The model section is the model's own dataclass (`VAEConfig`, `AEConfig`, ...; it lives
beside the model that reads it); `compose` picks it from `model.name`.

YAML files and command-line overrides (`train.epochs=5 model.hidden=[256,128]`) are
merged on top of the dataclass defaults, in that order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from vaelab.errors import ConfigError


@dataclass
class DataConfig:
    name: str = "shapes"  # shapes | mnist | fashion-mnist | cifar10 | celeba | folder:PATH
    root: Optional[str] = None  # folder holding the files; default ~/.cache/vaelab/<name>
    download: bool = True  # fetch missing files (with checksums) when not in root
    split: str = "train"  # official split to read: train | test
    limit: Optional[int] = None  # keep only the first `limit` examples, before holding out
    val: float = 0.1  # held-out part: a fraction if < 1, else a count of examples
    split_seed: Optional[int] = None  # None: hold out the last examples; int: a random subset
    binarize: str = "none"  # none (grey levels) | static (x > 0.5) | dynamic (x ~ Bernoulli per batch)
    image_size: int = 64  # shapes, celeba, folder: side of the square image
    num_samples: int = 20000  # shapes only: images drawn (factors uniform at random)
    seed: int = 0  # shapes only: generator seed


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"  # adam | adamw
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "constant"  # constant | cosine
    grad_clip: Optional[float] = None  # max global grad norm; None = no clipping
    seed: int = 0
    device: str = "auto"  # auto (cuda when available) | cpu | cuda | cuda:1 ...
    eval_batch_size: int = 500
    checkpoint_seconds: float = 60.0  # write checkpoints at most this often, and always after the
    #   last epoch and on Ctrl-C (0 = after every epoch); a crash loses at most this much work
    progress: bool = True  # progress bar on stderr
    tensorboard: bool = False  # also write TensorBoard events (needs the tensorboard package)
    log_every: int = 20  # steps between progress-bar refreshes


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: Any = None  # the model's own config dataclass, chosen by model.name
    train: TrainConfig = field(default_factory=TrainConfig)


def compose(
    raw: dict | None,
    overrides: list[str] | tuple[str, ...] = (),
    model_config_for: Callable[[str], type] | None = None,
    default_model: str = "vae",
) -> RunConfig:
    """Merge defaults <- raw (a dict, e.g. parsed YAML) <- `key=value` overrides.

    `model_config_for(name)` returns the config dataclass of the model called `name`.
    """
    try:
        untyped = OmegaConf.merge(OmegaConf.create(raw or {}), OmegaConf.from_dotlist(list(overrides)))
        name = OmegaConf.select(untyped, "model.name", default=default_model)
    except OmegaConfBaseException as e:
        raise ConfigError(_one_line(e)) from None
    except ValueError as e:  # from_dotlist on 'key' without '='
        raise ConfigError(str(e)) from None
    model_cfg = model_config_for(name)() if model_config_for else None
    return build(RunConfig(model=model_cfg), raw, overrides)


def build(schema, raw: dict | None = None, overrides: list[str] | tuple[str, ...] = ()):
    """The dataclass instance `schema` with `raw` and then `key=value` overrides merged in,
    type-checked: a ConfigError names an unknown key or a wrong type."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.create(raw or {}), OmegaConf.from_dotlist(list(overrides)))
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        raise ConfigError(_one_line(e)) from None
    except ValueError as e:
        raise ConfigError(str(e)) from None


def to_dict(cfg) -> dict:
    """Plain nested dict of a config (for YAML files and run folders)."""
    return OmegaConf.to_container(OmegaConf.structured(cfg))


def _one_line(e: Exception) -> str:
    """OmegaConf messages span lines ('full_key: ...'); keep the message and the key."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    key = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("full_key:")), None)
    return f"{lines[0]} (key: {key})" if key else lines[0]
