"""vaelab: the autoencoder family of generative models, to learn, train, compare and sample."""

import importlib
import importlib.util
from typing import TYPE_CHECKING

from vaelab.version import __version__

# The facade's names resolve on first use (PEP 562), so `import vaelab` and the
# `vaelab` command's --help import no torch, PIL or OmegaConf (docs/architecture.md).
_EXPORTS = {
    "DataConfig": "vaelab.config",
    "RunConfig": "vaelab.config",
    "TrainConfig": "vaelab.config",
    "load": "vaelab.runs.folder",
    "load_config": "vaelab.runs.folder",
    "run_config": "vaelab.runs.folder",
    "train": "vaelab.runs.train_run",
}

if TYPE_CHECKING:
    from vaelab.config import DataConfig, RunConfig, TrainConfig
    from vaelab.runs import load, load_config, run_config, train

__all__ = ["DataConfig", "RunConfig", "TrainConfig", "load", "load_config", "run_config", "train", "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = vars(importlib.import_module(_EXPORTS[name]))[name]
    elif not name.startswith("_") and (spec := importlib.util.find_spec(f"vaelab.{name}")) and spec.origin:
        value = importlib.import_module(spec.name)  # a part (vaelab.models), not a data folder (configs/)
    else:
        raise AttributeError(f"module 'vaelab' has no attribute {name!r}")
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
