"""Open run folders and config files: config + weights (+ a VQ-VAE's code prior) -> a model
ready to use. The files themselves are training/checkpoint.py's.

    RUN/config.yaml, RUN/best.safetensors, RUN/last.safetensors, ...   the model
    RUN/prior/config.yaml, RUN/prior/best.safetensors, ...             its code prior, if any
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import torch
import yaml

from vaelab.config import RunConfig, build, compose, field_specs
from vaelab.errors import ConfigError, RunError
from vaelab.run_files import PRIOR_DIR, refuse_links
from vaelab.models import CodeGridModel, GenerativeModel, build_model, config_class
from vaelab.models.quantizers import QUANTIZER_CONFIGS
from vaelab.models.registry import MODELS
from vaelab.models.vqvae import DEFAULT_QUANTIZER
from vaelab.models.priors import PixelCNNConfig
from vaelab.runs.shipped import find_config
from vaelab import run_files




def read_yaml(path: str | Path) -> dict:
    """The YAML mapping a file holds; a one-line ConfigError when the file is missing or
    unreadable, is not UTF-8 text or valid YAML, is empty, or holds anything but a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        raw = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a text file (not UTF-8); a config file is YAML text") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if raw is None:
        raise ConfigError(f"{path} is empty; a config file holds a mapping of sections (data:, model:, train: ...)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of sections (data:, model:, train: ...), not a {type(raw).__name__}")
    return raw


# Model keys replaced since vaelab 0.1.0 wrote them: old key -> (new key, new value from the old).
# Config files and run folders written before still open; the next save writes the new key.
RENAMED_MODEL_KEYS = {
    "ema": ("quantizer", lambda ema: "ema" if ema else "vq"),  # the VQ-VAE takes any quantizer of the family
}
# A VQ-VAE's quantizer options, flat in `model:` until each quantizer had its own section
# (model.quantizer: {name, options}): old key -> the key in the section.
FLAT_QUANTIZER_KEYS = {key: key for key in (
    "gradient", "commitment", "decay", "kmeans_init", "dead_code_steps", "codebook_dim", "shared_codebook",
    "quantizer_dropout", "levels", "temperature", "temperature_end", "temperature_steps", "kl_weight",
    "diversity_weight", "hard")} | {"stages": "num_quantizers", "stage_quantizer": "codebook"}


def upgrade(raw: dict) -> dict:
    """A config mapping with keys of earlier versions replaced by today's (RENAMED_MODEL_KEYS,
    then FLAT_QUANTIZER_KEYS)."""
    model = raw.get("model")
    if not isinstance(model, dict):
        return raw
    model = dict(model)
    for old, (new, value) in RENAMED_MODEL_KEYS.items():
        if old in model:
            model.setdefault(new, value(model.pop(old)))
    return {**raw, "model": nest_quantizer(model)}


def nest_quantizer(model: dict) -> dict:
    """A VQ-VAE's `model:` mapping with its flat quantizer keys (`quantizer: fsq`, `levels:
    [...]`, every other quantizer's options beside them) moved into the section of the
    quantizer it names (`quantizer: {name: fsq, levels: [...]}`). The other quantizers'
    options had no effect and are left out. Other models' mappings come back as they are."""
    chosen, name = model.get("quantizer"), model.get("name")  # the name may come from an override: unknown here
    if isinstance(chosen, dict) or (chosen is None and not FLAT_QUANTIZER_KEYS.keys() & model.keys()):
        return model  # today's form (a flat key beside a section is a mistake the merge names), or no quantizer
    if isinstance(name, str) and name in MODELS and "quantizer" not in field_specs(config_class(name)):
        return model
    section = {"name": chosen or DEFAULT_QUANTIZER}
    config = QUANTIZER_CONFIGS.get(section.get("name", DEFAULT_QUANTIZER))
    takes = {f.name for f in fields(config)} if config is not None else set()
    nested = {key: value for key, value in model.items() if key not in FLAT_QUANTIZER_KEYS}
    for old, new in FLAT_QUANTIZER_KEYS.items():
        if old in model and new in takes:
            section.setdefault(new, model[old])
    return {**nested, "quantizer": section}


def upgrade_overrides(raw: dict, overrides: list[str] | tuple[str, ...]) -> tuple[dict, list[str]]:
    """A config mapping as written and `key=value` overrides -> both in today's keys:
    `model.levels=...` is `model.quantizer.levels=...` (FLAT_QUANTIZER_KEYS), and
    `model.quantizer=NAME` picks that quantizer with its defaults, in place of the
    mapping's quantizer section (a different quantizer's options), or, in a mapping of
    flat keys, with the options it has for NAME."""
    model, upgraded = raw.get("model", {}), []
    model = dict(model) if isinstance(model, dict) else None  # not a mapping: compose says so
    for item in overrides:
        key, sep, value = item.partition("=")
        old = key.removeprefix("model.")
        if key == "model.quantizer" and sep and model is not None:
            if isinstance(model.get("quantizer"), dict):
                model.pop("quantizer")
                upgraded.append(f"model.quantizer.name={value}")
            else:
                model["quantizer"] = value  # nested with the flat options it takes (upgrade)
            continue
        if key.startswith("model.") and old in FLAT_QUANTIZER_KEYS:
            key = "model.quantizer." + FLAT_QUANTIZER_KEYS[old]
        upgraded.append(key + sep + value)
    return (raw if model is None else {**raw, "model": model}), upgraded


def compose_upgraded(raw: dict, overrides: list[str] | tuple[str, ...]) -> RunConfig:
    """compose() on a config mapping and overrides of any vaelab version."""
    raw, overrides = upgrade_overrides(raw, overrides)
    return compose(upgrade(raw), overrides, config_class)


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """A YAML config file, or a shipped config by name (`"quickstart"`: runs/shipped.py), with
    `key=value` overrides on top, typed and checked."""
    return compose_upgraded(read_yaml(find_config(path)), overrides)


def run_config(run: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """The config a run folder was trained with (plus overrides)."""
    run = Path(run)
    if not run.is_dir():
        raise RunError(f"run folder {run} not found")
    refuse_links(run)  # before reading anything: its own files, not files elsewhere
    refuse_links(run / PRIOR_DIR)
    if not (run / run_files.CONFIG).is_file():
        raise RunError(f"{run} is not a run folder (no {run_files.CONFIG})")
    return compose_upgraded(read_yaml(run / run_files.CONFIG), overrides)


def load(run: str | Path, checkpoint: str = "best", device: str | torch.device = "cpu", prior: bool = True,
         **networks: torch.nn.Module) -> GenerativeModel:
    """The trained model of a run folder, in eval mode.

    checkpoint: 'best' (lowest validation loss; falls back to 'last') or 'last'.
    prior: attach the code prior in RUN/prior/ to a code-grid model (a VQ-VAE), when one
    has been trained, so that the model can sample.
    networks: a run trained with your own networks (`model.backbone: custom`) needs them
    back, fresh instances of the same classes: `load(RUN, encoder=MyEncoder(),
    decoder=MyDecoder())`; the weights come from the folder. No code is read from it.
    """
    run = Path(run)
    cfg = run_config(run)
    if checkpoint not in ("best", "last"):
        raise RunError(f"unknown checkpoint {checkpoint!r}; use 'best' or 'last'")
    source = run_files.weights_source(run, checkpoint)
    if source is None:
        raise RunError(f"{run} has no weights yet (no {run_files.CHECKPOINT})")
    path, prefix = source
    meta = run_files.read_metadata(path)
    if meta.get("model") != cfg.model.name:
        raise RunError(f"{path} holds a {meta.get('model')!r} model but {run}/config.yaml says {cfg.model.name!r}")
    model = build_model(cfg.model, *_recorded_data(meta, path), **networks).to(device)
    run_files.load_weights(model, path, prefix)
    if prior and isinstance(model, CodeGridModel):
        model.attach_prior(load_prior(run, model, device))
    return model.eval()


def load_prior(run: str | Path, model: CodeGridModel, device: str | torch.device = "cpu"):
    """The prior trained for a code model's run (RUN/prior/), built by the model
    (`make_prior`), or None if there is none yet."""
    folder = Path(run) / PRIOR_DIR
    source = run_files.weights_source(folder, "best")
    if source is None:
        return None
    path, prefix = source
    meta = run_files.read_metadata(path)
    if meta.get("model") != "pixelcnn" or not isinstance(meta.get("num_codes"), int):
        raise RunError(f"{path} is not a PixelCNN prior")
    pixelcnn = build(PixelCNNConfig(), read_yaml(folder / run_files.CONFIG).get("pixelcnn"))
    if meta["num_codes"] != model.num_codes:
        raise RunError(f"{path} is a prior over {meta['num_codes']} codes; the model has {model.num_codes}")
    prior = model.make_prior(pixelcnn).to(device)
    run_files.load_weights(prior, path, prefix)
    return prior.eval()


def _recorded_data(meta: dict, path: Path) -> tuple[tuple[int, int, int], int | None]:
    """(data shape (C, H, W), number of classes or None) recorded with weights; RunError when malformed."""
    shape, classes = meta.get("data_shape"), meta.get("num_classes")
    if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(n, int) and n >= 1 for n in shape)):
        raise RunError(f"{path}: its data shape {shape!r} is not three positive sizes")
    if classes is not None and not (isinstance(classes, int) and classes >= 1):
        raise RunError(f"{path}: its number of classes {classes!r} is not a positive count")
    return tuple(shape), classes
