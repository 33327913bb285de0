"""vaelab: the autoencoder family of generative models, to learn, train, compare and sample."""

from vaelab.config import DataConfig, RunConfig, TrainConfig
from vaelab.runs import load, load_config, run_config, train
from vaelab.version import __version__

__all__ = ["DataConfig", "RunConfig", "TrainConfig", "load", "load_config", "run_config", "train", "__version__"]
