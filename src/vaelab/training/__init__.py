"""Training: the loop (trainer.fit), its batches (epochs), optimizer and schedule (optim),
the run folder's checkpoint (checkpoint, state_tree) and its lock (folder_lock). Nothing
here draws pictures or evaluates: the run layer (vaelab.runs) puts a whole run together."""

from vaelab.training.checkpoint import Checkpointer, Progress
from vaelab.training.epochs import DatasetBatches, EpochBatches, TensorBatches, dataset_epochs, tensor_epochs
from vaelab.training.folder_lock import hold_folder
from vaelab.training.optim import build_optimizer, learning_rate
from vaelab.training.trainer import TrainResult, average_terms, fit

__all__ = [
    "Checkpointer",
    "DatasetBatches",
    "EpochBatches",
    "Progress",
    "TensorBatches",
    "TrainResult",
    "average_terms",
    "build_optimizer",
    "dataset_epochs",
    "fit",
    "hold_folder",
    "learning_rate",
    "tensor_epochs",
]
