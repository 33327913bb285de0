"""What the training loop iterates over: the batches of an epoch, addressable by position.

    order = batches.order(generator, shuffle)     # the epoch's visiting order (draws from generator)
    x, y = batches.batch(order, i, generator)     # batch i of it (may draw: dynamic binarization)
    for x, y in batches(generator, shuffle): ...  # a whole epoch

A resumed run redraws the order from the generator's state at the epoch's start, then
continues at batch i with the generator's state at the checkpoint: the same batches, the
same binary draws, as if it had never stopped. x and y are on the CPU; the loop moves them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Iterator, Optional

import torch
from torch import Tensor

from vaelab.data import ImageDataset, to_float
from vaelab.data.batches import check_binarize
from vaelab.errors import ConfigError

Batch = tuple[Tensor, Optional[Tensor]]


class EpochBatches(ABC):
    """Batches of `batch_size` rows (the last one smaller) of `num_rows` rows."""

    def __init__(self, num_rows: int, batch_size: int):
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}.")
        self.num_rows, self.batch_size = num_rows, batch_size

    @property
    def num_batches(self) -> int:
        return math.ceil(self.num_rows / self.batch_size)

    def order(self, generator: torch.Generator, shuffle: bool) -> Tensor | None:
        """A random permutation of the rows (shuffle), or None for their stored order."""
        return torch.randperm(self.num_rows, generator=generator) if shuffle else None

    def rows(self, order: Tensor | None, i: int):
        """The rows of batch i: a slice (a cheap view) in stored order, else a chunk of the permutation."""
        start, stop = i * self.batch_size, min((i + 1) * self.batch_size, self.num_rows)
        return slice(start, stop) if order is None else order[start:stop]

    @abstractmethod
    def batch(self, order: Tensor | None, i: int, generator: torch.Generator) -> Batch:
        """Batch i of the epoch in `order`."""

    def __call__(self, generator: torch.Generator, shuffle: bool) -> Iterator[Batch]:
        order = self.order(generator, shuffle)
        for i in range(self.num_batches):
            yield self.batch(order, i, generator)


class DatasetBatches(EpochBatches):
    """Float image batches [B, C, H, W] in [0, 1] and labels [B] (or None) of an ImageDataset."""

    def __init__(self, data: ImageDataset, batch_size: int, binarize: str = "none"):
        super().__init__(len(data), batch_size)
        check_binarize(binarize)
        self.data, self.binarize = data, binarize

    def batch(self, order: Tensor | None, i: int, generator: torch.Generator) -> Batch:
        rows = self.rows(order, i)
        labels = None if self.data.labels is None else self.data.labels[rows]
        return to_float(self.data.images[rows], self.binarize, generator), labels


class TensorBatches(EpochBatches):
    """Batches of the rows of any tensor x [N, ...] (e.g. code grids) and labels [N] (or None)."""

    def __init__(self, x: Tensor, labels: Tensor | None, batch_size: int):
        super().__init__(len(x), batch_size)
        self.x, self.labels = x, labels

    def batch(self, order: Tensor | None, i: int, generator: torch.Generator) -> Batch:
        rows = self.rows(order, i)
        return self.x[rows], None if self.labels is None else self.labels[rows]


def dataset_epochs(data: ImageDataset, batch_size: int, binarize: str = "none") -> DatasetBatches:
    """Epochs of an image dataset's batches (see DatasetBatches)."""
    return DatasetBatches(data, batch_size, binarize)


def tensor_epochs(x: Tensor, labels: Tensor | None, batch_size: int) -> TensorBatches:
    """Epochs of batches of the rows of a tensor (see TensorBatches)."""
    return TensorBatches(x, labels, batch_size)
