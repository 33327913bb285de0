"""Open run folders and config files: config + weights -> a model ready to use."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from vaelab.config import RunConfig, compose
from vaelab.errors import ConfigError, RunError
from vaelab.models import GenerativeModel, build_model, config_class
from vaelab.training import checkpoint as ckpt


def read_yaml(path: str | Path) -> dict:
    """A YAML mapping from a file; ConfigError when missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of sections (data, model, train)")
    return raw or {}


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """A YAML config file with `key=value` overrides on top, typed and checked."""
    return compose(read_yaml(path), overrides, config_class)


def run_config(run: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """The config a run folder was trained with (plus overrides)."""
    run = Path(run)
    if not run.is_dir():
        raise RunError(f"run folder {run} not found")
    if not (run / ckpt.CONFIG).is_file():
        raise RunError(f"{run} is not a run folder (no {ckpt.CONFIG})")
    return compose(read_yaml(run / ckpt.CONFIG), overrides, config_class)


def load(run: str | Path, checkpoint: str = "best", device: str | torch.device = "cpu") -> GenerativeModel:
    """The trained model of a run folder, in eval mode.

    checkpoint: 'best' (lowest validation loss; falls back to 'last') or 'last'.
    """
    run = Path(run)
    cfg = run_config(run)
    names = {"best": [ckpt.BEST, ckpt.LAST], "last": [ckpt.LAST]}
    if checkpoint not in names:
        raise RunError(f"unknown checkpoint {checkpoint!r}; use 'best' or 'last'")
    path = next((run / n for n in names[checkpoint] if (run / n).is_file()), None)
    if path is None:
        raise RunError(f"{run} has no weights yet ({' or '.join(names[checkpoint])})")
    meta = ckpt.read_metadata(path)
    if meta.get("model") != cfg.model.name:
        raise RunError(f"{path} holds a {meta.get('model')!r} model but {run}/config.yaml says {cfg.model.name!r}")
    model = build_model(cfg.model, tuple(meta["data_shape"]), meta.get("num_classes")).to(device)
    ckpt.load_weights(model, path)
    return model.eval()
