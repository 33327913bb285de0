"""The run layer: everything that opens, trains into, evaluates, or attaches a prior to a
run folder (the unit a user holds).

    folder      read_yaml, load_config, run_config, load (model + its code prior), load_prior
    train       train: model + data + the training loop + pictures; mean_terms
    prior       train_prior: a PixelCNN over a VQ-VAE run's codes, into RUN/prior/
    scorecard   evaluate_run: every measure that applies, into RUN/evaluation.json
    classifier  train_dataset_classifier: the per-dataset classifier the scorecard uses
"""

from vaelab.runs.classifier import classifier_folder, train_dataset_classifier
from vaelab.runs.folder import PRIOR_DIR, load, load_config, load_prior, read_yaml, run_config
from vaelab.runs.prior import PriorConfig, train_prior
from vaelab.runs.scorecard import EvalOptions, evaluate_run, scorecard_lines
from vaelab.runs.train import mean_terms, train

__all__ = [
    "EvalOptions",
    "PRIOR_DIR",
    "PriorConfig",
    "classifier_folder",
    "evaluate_run",
    "load",
    "load_config",
    "load_prior",
    "mean_terms",
    "read_yaml",
    "run_config",
    "scorecard_lines",
    "train",
    "train_dataset_classifier",
    "train_prior",
]
