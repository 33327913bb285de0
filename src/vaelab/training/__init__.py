"""Training: the loop, checkpoints and run folders."""

from vaelab.training.trainer import TrainResult, mean_terms, train

__all__ = ["TrainResult", "mean_terms", "train"]
