"""What the training loop iterates over: a function that gives one epoch of (x, y) batches.

    epochs(generator, shuffle) -> iterable of (x, y)

The generator drives the order and any randomness of the data (dynamic binarization),
so a resumed run continues the same sequence. x and y are on the CPU; the loop moves them.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

import torch
from torch import Tensor

from vaelab.data import ImageDataset, batches
from vaelab.errors import ConfigError

Batches = Iterable[tuple[Tensor, Optional[Tensor]]]
EpochBatches = Callable[[torch.Generator, bool], Batches]


def dataset_epochs(data: ImageDataset, batch_size: int, binarize: str = "none") -> EpochBatches:
    """Epochs of float image batches [B, C, H, W] in [0, 1] and labels (see data.batches)."""
    return lambda generator, shuffle: batches(data, batch_size, shuffle=shuffle, generator=generator, binarize=binarize)


def tensor_epochs(x: Tensor, labels: Tensor | None, batch_size: int) -> EpochBatches:
    """Epochs of batches of the rows of any tensor `x` [N, ...] (e.g. code grids) and `labels` [N]."""
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}.")

    def epoch(generator: torch.Generator, shuffle: bool) -> Batches:
        order = torch.randperm(len(x), generator=generator) if shuffle else torch.arange(len(x))
        for index in order.split(batch_size):
            yield x[index], None if labels is None else labels[index]

    return epoch
