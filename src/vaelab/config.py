"""Typed run configs.

A run is described by one `RunConfig`: what data, which model, how to train. Each
section is a dataclass, so an editor completes it and OmegaConf checks it: an unknown
key or a value of the wrong type is a `ConfigError` naming the full key.

Each field also declares the values it accepts, beside its default (`at_least(1,
default=10)`, `one_of("adam", "adamw", default="adam")`, ...). Every section is a
`Section`: it checks each value as it is assigned (in the constructor, by
`dataclasses.replace`, or `cfg.lr = ...`) and refuses the first wrong type or value
out of range with one line naming its dotted key (`train.lr must be > 0, got -1.0`),
so a config made in Python is checked like one read from a file. Floats must be finite
unless a field says otherwise. A section whose values must also fit together (or fit
another section) overrides `Section.check_across`.

The model section is the model's own dataclass (`VAEConfig`, `AEConfig`, ...; it lives
beside the model that reads it); `compose` picks it from `model.name`.

YAML files and command-line overrides (`train.epochs=5 model.hidden=[256,128]`) are
merged on top of the dataclass defaults, in that order.
"""

from __future__ import annotations

import functools
import math
import re
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from collections.abc import Mapping
from typing import Any, Callable, ClassVar, Optional

from vaelab.errors import ConfigError

RULE = "vaelab.rule"  # the key of a field's metadata that holds its Rule
MAX_SEED = 2**63 - 1  # the largest signed 64-bit integer: a seed any generator here takes
MAX_IMAGE_SIZE = 1024  # the largest image side data.image_size may ask for
SHAPES_MIN_SIZE = 16  # the shapes renderer draws nothing recognisable below this side
FIXED_SIDES = {"mnist": 28, "fashion-mnist": 28, "cifar10": 32}  # datasets whose side data.image_size does not set
DATASETS = ("shapes", "mnist", "fashion-mnist", "cifar10", "celeba", "none")  # and folder:PATH
NO_DATA = "none"  # data.name of a folder with no data set of its own (its data came from Python)
FOLDER_PREFIX = "folder:"


# ---------------------------------------------------------------- what a field accepts


@dataclass(frozen=True)
class Rule:
    """The values a config field accepts: `text` says which ('> 0', 'one of adam, adamw'),
    `accepts` tests one; `finite` also refuses NaN and inf for a float. None always passes
    (OmegaConf already refuses it for a field that is not Optional)."""

    text: str
    accepts: Callable[[Any], bool]
    finite: bool = True

    def refusal(self, value: Any) -> str | None:
        """What `value` should have been, or None when it is accepted."""
        if isinstance(value, float) and self.finite and not math.isfinite(value):
            return f"a finite number {self.text}"
        return None if self.accepts(value) else self.text


def ruled(rule: Rule, default: Any) -> Any:
    """A dataclass field with `default` (a list is copied for each instance) and `rule`."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={RULE: rule})
    return field(default=default, metadata={RULE: rule})


def _num(x: float) -> str:
    """A bound as a message shows it: 0, 1, 0.001."""
    return repr(x) if isinstance(x, int) else f"{x:g}"


def bounded(low: float | None = None, high: float | None = None, *, default: Any,
            low_open: bool = False, high_open: bool = False, finite: bool = True) -> Any:
    """A number between `low` and `high` (None: unbounded on that side), each bound
    included unless its `*_open` says otherwise."""
    def accepts(v) -> bool:
        above = low is None or (v > low if low_open else v >= low)
        below = high is None or (v < high if high_open else v <= high)
        return above and below
    if high is None:
        text = f"{'>' if low_open else '>='} {_num(low)}"
    elif low is None:
        text = f"{'<' if high_open else '<='} {_num(high)}"
    else:
        text = f"in {'(' if low_open else '['}{_num(low)}, {_num(high)}{')' if high_open else ']'}"
    return ruled(Rule(text, accepts, finite), default)


def at_least(low: float, *, default: Any, finite: bool = True) -> Any:
    """A number >= `low`."""
    return bounded(low, default=default, finite=finite)


def above(low: float, *, default: Any, finite: bool = True) -> Any:
    """A number > `low`."""
    return bounded(low, default=default, low_open=True, finite=finite)


def random_seed(*, default: Optional[int] = 0) -> Any:
    """A random seed: an integer in [0, 2**63 - 1]."""
    return bounded(0, MAX_SEED, default=default)


def odd_at_least(low: int, *, default: int) -> Any:
    """An odd integer >= `low`."""
    return ruled(Rule(f"an odd number >= {low}", lambda v: v >= low and v % 2 == 1), default)


def each_at_least(low: int, *, default: list[int]) -> Any:
    """A non-empty list of integers, each >= `low`."""
    return ruled(Rule(f"a non-empty list of numbers >= {low}", lambda v: bool(v) and all(x >= low for x in v)), default)


def one_of(*choices: str, default: str, prefix: str | None = None) -> Any:
    """One of the strings `choices`, or (when `prefix` is given) the prefix followed by more text."""
    text = "one of " + ", ".join(choices) + (f" or {prefix}..." if prefix else "")
    def accepts(v: str) -> bool:
        return v in choices or (prefix is not None and v.startswith(prefix) and len(v) > len(prefix))
    return ruled(Rule(text, accepts), default)


def matching(pattern: str, text: str, *, default: str) -> Any:
    """A string that matches the regular expression `pattern` as a whole; `text` describes it."""
    compiled = re.compile(pattern)
    return ruled(Rule(text, lambda v: compiled.fullmatch(v) is not None), default)


class Section:
    """A config section that checks itself, so a config made in Python is as safe as one read
    from a file: every value assigned to a field (in the constructor, by `dataclasses.replace`
    or `cfg.beta = 4.0`) must have the field's type and pass its Rule, and the constructor
    then runs `check_across`, the rules that tie fields together. A refusal is the one-line
    ConfigError the command line prints, naming the dotted key (`model.beta must be >= 0,
    got -3.0`): `key_prefix` is where the section sits in a config file.

    Rules that tie a section to another (the image side a conv model can halve) need the
    whole config: `RunConfig` runs every section's `check_across` again with itself as
    `root` when it is constructed, and `check(cfg)` runs everything on demand (after
    assignments that only make sense together)."""

    key_prefix: ClassVar[str] = ""

    def __setattr__(self, name: str, value: Any) -> None:
        spec = field_specs(type(self)).get(name)
        if spec is not None:
            value = spec.accept(value, self.key_prefix + name)
        object.__setattr__(self, name, value)

    def __post_init__(self) -> None:
        self.check_across(self.key_prefix, self)

    def check_across(self, where: str, root: Any) -> None:
        """Raise ConfigError when this section's values do not fit together or do not fit
        other sections; `where` is its dotted key prefix ('model.' or ''), `root` the whole
        config it is part of (itself when built alone: rules across sections then wait)."""


class ModelSection(Section):
    """The base of every model's config section (the `model:` of a config file)."""

    key_prefix: ClassVar[str] = "model."

    @classmethod
    def schema(cls, raw: Mapping[str, Any]) -> ModelSection:
        """The defaults that `raw`, a config's `model:` mapping (overrides merged), is merged
        into. A section that holds a section chosen by name (the VQ-VAE's model.quantizer,
        as model.name chooses the model) picks it from `raw` here."""
        return cls()


@dataclass(frozen=True)
class FieldSpec:
    """What one field of a Section accepts: a type (None allowed when `optional`) and a Rule."""

    kind: Any  # int, float, bool, str, list (of int), or None: anything (a nested section, Any)
    optional: bool
    rule: Rule | None

    def accept(self, value: Any, key: str) -> Any:
        """`value` as the field stores it (an int for a float field becomes a float, a tuple
        of ints a list), or ConfigError naming `key`."""
        if value is None:
            if self.optional or self.kind is None:
                return None
            raise ConfigError(f"{key} must be {_KIND_TEXT[self.kind]}, got None")
        stored = _as_kind(value, self.kind)
        if stored is None:
            raise ConfigError(f"{key} must be {_KIND_TEXT[self.kind]}, got {value!r}")
        wanted = self.rule.refusal(stored) if self.rule is not None else None
        if wanted is not None:
            raise ConfigError(f"{key} must be {wanted}, got {stored!r}")
        return stored


_KIND_TEXT = {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list of integers"}


def _as_kind(value: Any, kind: Any) -> Any:
    """`value` as a field of `kind` stores it, or None when it is not one (a bool is not a number)."""
    if kind is None:
        return value
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is list and isinstance(value, (list, tuple)):
        return list(value) if all(isinstance(v, int) and not isinstance(v, bool) for v in value) else None
    if kind is int and isinstance(value, bool):
        return None
    return value if kind is not list and isinstance(value, kind) else None


@functools.cache
def field_specs(cls: type) -> dict[str, FieldSpec]:
    """name -> FieldSpec of each field of the dataclass `cls` (read from its annotations once)."""
    hints = typing.get_type_hints(cls)
    return {f.name: _spec(hints[f.name], f.metadata.get(RULE)) for f in fields(cls)}


def _spec(hint: Any, rule: Rule | None) -> FieldSpec:
    """The FieldSpec of a type hint: int, float, bool, str, list[int], Optional of one of them, or anything else."""
    args = typing.get_args(hint)
    optional = typing.get_origin(hint) is typing.Union and type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    kind = list if typing.get_origin(hint) is list else hint
    return FieldSpec(kind if kind in _KIND_TEXT else None, optional, rule)


def check(cfg: Any, where: str | None = None, root: Any = None) -> None:
    """Everything a config must pass, run again on demand: each field's type and Rule, for
    `cfg` and the sections nested in it, then each Section's `check_across` with `root`
    (default `cfg`). A refusal is a one-line ConfigError naming the dotted key; `where`
    (default the section's `key_prefix`) prefixes the keys named."""
    root = cfg if root is None else root
    if where is None:
        where = cfg.key_prefix if isinstance(cfg, Section) else ""
    for name, spec in field_specs(type(cfg)).items():
        value = vars(cfg)[name]
        if is_dataclass(value):
            check(value, f"{where}{name}.", root)
        else:
            spec.accept(value, where + name)
    if isinstance(cfg, Section):
        cfg.check_across(where, root)


# ---------------------------------------------------------------- the sections


@dataclass
class DataConfig(Section):
    key_prefix: ClassVar[str] = "data."

    name: str = one_of(*DATASETS, default="shapes", prefix=FOLDER_PREFIX)  # folder:PATH: any folder of images;
    #   none: no data set to load by name (data handed to vaelab.train from Python, or a model's save_pretrained)
    root: Optional[str] = None  # folder holding the files; default ~/.cache/vaelab/<name>
    download: bool = True  # fetch missing files (with checksums) when not in root
    split: str = one_of("train", "test", default="train")  # official split to read
    limit: Optional[int] = at_least(1, default=None)  # keep only the first `limit` examples, before holding out
    val: float = at_least(0, default=0.1)  # held-out part: a fraction if < 1, else a (whole) count of examples
    split_seed: Optional[int] = random_seed(default=None)  # None: hold out the last examples; int: a random subset
    binarize: str = one_of("none", "static", "dynamic", default="none")  # none (grey levels) | static (x > 0.5) | dynamic (x ~ Bernoulli per batch)
    image_size: int = bounded(1, MAX_IMAGE_SIZE, default=64)  # shapes, celeba, folder: side of the square image
    num_samples: int = at_least(1, default=20000)  # shapes only: images drawn (factors uniform at random)
    seed: int = random_seed()  # shapes only: generator seed

    def side(self) -> int:
        """The side of the square images this config loads (fixed for mnist, fashion-mnist and cifar10)."""
        return FIXED_SIDES.get(self.name, self.image_size)

    def side_key(self, where: str = "data.") -> str:
        """What sets `side()`, for messages: the key data.image_size, or the dataset itself."""
        return f"the image side of {self.name}" if self.name in FIXED_SIDES else f"{where}image_size"

    def check_across(self, where: str, root: Any) -> None:
        if self.val >= 1 and self.val != int(self.val):
            raise ConfigError(f"{where}val must be a fraction below 1 or a whole count of examples, got {self.val!r}")
        if self.limit is not None and self.val >= self.limit:
            raise ConfigError(f"{where}val must hold out fewer than the {where}limit of {self.limit} examples, got {self.val!r}")
        if self.name == "shapes" and self.image_size < SHAPES_MIN_SIZE:
            raise ConfigError(f"{where}image_size must be >= {SHAPES_MIN_SIZE} for shapes, got {self.image_size}")


@dataclass
class TrainConfig(Section):
    key_prefix: ClassVar[str] = "train."

    epochs: int = at_least(1, default=10)  # passes over the training part; no upper bound: epochs cost time,
    #   not memory (metrics.jsonl grows a line each), and Ctrl-C saves the exact step (then --resume RUN train.epochs=N)
    batch_size: int = at_least(1, default=128)  # examples per step (the loss is their mean)
    optimizer: str = one_of("adam", "adamw", default="adam")  # adamw: weight decay decoupled from the gradient
    lr: float = above(0, default=1e-3)  # learning rate
    weight_decay: float = at_least(0, default=0.0)  # L2 (adam) or decoupled (adamw) decay
    lr_schedule: str = one_of("constant", "cosine", default="constant")  # cosine: lr falls to 0 at the last step
    grad_clip: Optional[float] = above(0, default=None)  # max global grad norm; None = no clipping
    seed: int = random_seed()  # initial weights, batch order and noise: a run is repeatable
    device: str = matching(r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, cuda, cuda:N or mps", default="auto")  # auto: cuda, else mps, else cpu
    data_on_device: bool = True  # move the dataset to the device once (as uint8); false: keep it in host memory
    precision: str = one_of("fp32", "bf16", "fp16", default="fp32")  # autocast for the training step (fp16 with a
    #   gradient scaler); losses, quantizer distances and EMA statistics stay float32; validation runs in fp32
    channels_last: bool = False  # conv models: NHWC memory layout (faster convolutions on recent GPUs)
    compile: bool = False  # torch.compile the training step's model (the first steps compile: slow to start)
    eval_batch_size: int = at_least(1, default=500)  # examples per forward pass when validating
    checkpoint_seconds: float = at_least(0, default=60.0)  # a checkpoint at least this often (checked after every step),
    #   one before the first step, one after the last epoch and one on Ctrl-C: a crash loses at most
    #   this much work (0 = after every step)
    checkpoint_steps: int = at_least(0, default=0)  # also a checkpoint every this many steps (0 = by time only)
    nonfinite: str = one_of("stop", "skip", default="stop")  # a NaN/inf loss term: stop (keep the last sound checkpoint) | skip the batch
    progress: bool = True  # progress bar on stderr
    tensorboard: bool = False  # also write TensorBoard events (needs the tensorboard package)
    log_every: int = at_least(1, default=20)  # steps between progress-bar refreshes and NaN/inf checks
    #   (each one read-back): a non-finite loss is found at most this many steps late, never saved


@dataclass
class RunConfig(Section):
    """A whole run: its sections check themselves, and building the run checks them against
    each other (`check_across` of each with this config as root)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: Any = None  # the model's own config dataclass, chosen by model.name
    train: TrainConfig = field(default_factory=TrainConfig)

    def check_across(self, where: str, root: Any) -> None:
        for section in (self.data, self.model, self.train):
            if isinstance(section, Section):
                section.check_across(section.key_prefix, self)


def compose(
    raw: dict | None,
    overrides: list[str] | tuple[str, ...] = (),
    model_config_for: Callable[[str], type] | None = None,
    default_model: str = "vae",
) -> RunConfig:
    """Merge defaults <- raw (a dict, e.g. parsed YAML) <- `key=value` overrides, then check
    every value (see `build`).

    `model_config_for(name)` returns the config dataclass of the model called `name`.
    """
    from omegaconf import OmegaConf  # here, not at the top: a config made in Python never needs it

    untyped = _merge(lambda: OmegaConf.to_container(
        OmegaConf.merge(OmegaConf.create(raw or {}), OmegaConf.from_dotlist(list(overrides)))))
    model = untyped.get("model")
    model = model if isinstance(model, dict) else {}  # not a mapping: the merge below says so
    name = model.get("name", default_model)
    if not isinstance(name, str):
        raise ConfigError(f"model.name must be the name of a model, got {name!r}")
    model_cfg = model_config_for(name).schema(model) if model_config_for else None
    return build(RunConfig(model=model_cfg), raw, overrides)


def build(schema, raw: dict | None = None, overrides: list[str] | tuple[str, ...] = ()):
    """The dataclass instance `schema` with `raw` and then `key=value` overrides merged in,
    type-checked and range-checked: a ConfigError names an unknown key, a wrong type or a
    value outside its field's declared range (`schema` is a Section: OmegaConf builds it, and
    its sections, through their constructors, which check every value)."""
    from omegaconf import OmegaConf

    return _merge(lambda: OmegaConf.to_object(OmegaConf.merge(
        OmegaConf.structured(schema), OmegaConf.create(raw or {}), OmegaConf.from_dotlist(list(overrides)))))


def to_dict(cfg) -> dict:
    """Plain nested dict of a config (for YAML files and run folders)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.structured(cfg))


def _merge(step: Callable[[], Any]) -> Any:
    """step() with the errors of OmegaConf, and of YAML parsing an override's value, as one-line ConfigErrors."""
    import yaml
    from omegaconf.errors import OmegaConfBaseException

    try:
        return step()
    except OmegaConfBaseException as e:
        raise ConfigError(_one_line(e)) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"an override's value is not valid YAML: {_one_line(e)}") from None
    except ValueError as e:  # from_dotlist on 'key' without '='
        raise ConfigError(_one_line(e)) from None


def _one_line(e: Exception) -> str:
    """OmegaConf messages span lines ('full_key: ...'); keep the message and the key."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    key = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("full_key:")), None)
    first = lines[0] if lines else type(e).__name__
    return f"{first} (key: {key})" if key else first
