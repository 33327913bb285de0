"""Training: the loop, checkpoints and run folders."""

from vaelab.training.trainer import TrainResult, average_terms, fit, mean_terms, train

__all__ = ["TrainResult", "average_terms", "fit", "mean_terms", "train"]
