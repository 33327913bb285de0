"""vaelab: the autoencoder family of generative models, to learn, train, compare and sample."""

from vaelab.config import DataConfig, RunConfig, TrainConfig
from vaelab.runs import load, load_config, run_config
from vaelab.training import train

__version__ = "0.1.0"
__all__ = ["DataConfig", "RunConfig", "TrainConfig", "load", "load_config", "run_config", "train", "__version__"]
