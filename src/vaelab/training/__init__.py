"""Training: the loop (trainer.fit), its batches (epochs), optimizer (optim) and the
run folder's checkpoint files (checkpoint). Nothing here draws pictures or evaluates:
the run layer (vaelab.runs) puts a whole run together."""

from vaelab.training.checkpoint import Checkpointer
from vaelab.training.epochs import EpochBatches, dataset_epochs, tensor_epochs
from vaelab.training.optim import build_optimizer
from vaelab.training.trainer import TrainResult, average_terms, fit

__all__ = [
    "Checkpointer",
    "EpochBatches",
    "TrainResult",
    "average_terms",
    "build_optimizer",
    "dataset_epochs",
    "fit",
    "tensor_epochs",
]
