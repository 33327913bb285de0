"""The run layer: everything that opens, trains into, evaluates, or attaches a prior to a
run folder (the unit a user holds).

    folder      read_yaml, load_config, run_config, load (model + its code prior), load_prior
    shipped     the configs that come with vaelab, found by name
    train_run   train: model + data + the training loop + pictures; mean_terms
    prior       train_prior: a PixelCNN over a VQ-VAE run's codes, into RUN/prior/
    scorecard   evaluate_run: every measure that applies, into RUN/evaluation.json
    classifier  train_dataset_classifier: the per-dataset classifier the scorecard uses

Each name is imported from its module on first use (PEP 562): opening a folder
(`vaelab.load`) imports no training loop, plots or evaluation.
"""

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "EvalOptions": "scorecard", "evaluate_run": "scorecard", "scorecard_lines": "scorecard",
    "PRIOR_DIR": "folder", "load": "folder", "load_config": "folder", "load_prior": "folder", "read_yaml": "folder",
    "run_config": "folder",
    "PriorConfig": "prior", "train_prior": "prior",
    "classifier_folder": "classifier", "train_dataset_classifier": "classifier",
    "mean_terms": "train_run", "train": "train_run",
}

if TYPE_CHECKING:
    from vaelab.runs.classifier import classifier_folder, train_dataset_classifier
    from vaelab.runs.folder import PRIOR_DIR, load, load_config, load_prior, read_yaml, run_config
    from vaelab.runs.prior import PriorConfig, train_prior
    from vaelab.runs.scorecard import EvalOptions, evaluate_run, scorecard_lines
    from vaelab.runs.train_run import mean_terms, train

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vaelab.runs' has no attribute {name!r}")
    value = vars(importlib.import_module(f"vaelab.runs.{_EXPORTS[name]}"))[name]
    globals()[name] = value
    return value
