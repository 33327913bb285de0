"""What the training loop iterates over: the batches of an epoch, addressable by position.

    order = batches.order(generator, shuffle)     # the epoch's visiting order (draws from generator)
    x, y = batches.batch(order, i, generator)     # batch i of it (may draw: dynamic binarization)
    for x, y in batches(generator, shuffle): ...  # a whole epoch

A resumed run redraws the order from the generator's state at the epoch's start, then
continues at batch i with the generator's state at the checkpoint: the same batches, the
same binary draws, as if it had never stopped.

`batches.to(device)` moves the data there once (as uint8: a quarter of the floats); the
order is then drawn on the CPU generator and moved once an epoch, and batches are
gathered and converted on the device, with no per-example Python work. The generator
given to `batch` must live on the data's device (it draws the dynamic binarization).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import replace
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
        self.device = torch.device("cpu")

    def to(self, device: torch.device) -> "EpochBatches":
        """Move the data to `device` (in place, like nn.Module.to); returns self."""
        self.device = torch.device(device)
        self._move(self.device)
        return self

    @abstractmethod
    def _move(self, device: torch.device) -> None:
        """Move the tensors the batches are cut from."""

    @property
    def num_batches(self) -> int:
        return math.ceil(self.num_rows / self.batch_size)

    def order(self, generator: torch.Generator, shuffle: bool) -> Tensor | None:
        """A random permutation of the rows (shuffle; drawn from `generator`, a CPU one, and
        moved to the data's device), or None for their stored order."""
        return torch.randperm(self.num_rows, generator=generator).to(self.device) if shuffle else None

    def rows(self, order: Tensor | None, i: int):
        """The rows of batch i: a slice (a cheap view) in stored order, else a chunk of the permutation."""
        start, stop = i * self.batch_size, min((i + 1) * self.batch_size, self.num_rows)
        return slice(start, stop) if order is None else order[start:stop]

    @abstractmethod
    def batch(self, order: Tensor | None, i: int, generator: torch.Generator) -> Batch:
        """Batch i of the epoch in `order`."""

    def __call__(self, generator: torch.Generator, shuffle: bool) -> Iterator[Batch]:
        """A whole epoch; `generator` lives on the data's device (and draws the order there)."""
        order = torch.randperm(self.num_rows, generator=generator, device=self.device) if shuffle else None
        for i in range(self.num_batches):
            yield self.batch(order, i, generator)


class DatasetBatches(EpochBatches):
    """Float image batches [B, C, H, W] in [0, 1] and labels [B] (or None) of an ImageDataset."""

    def __init__(self, data: ImageDataset, batch_size: int, binarize: str = "none"):
        super().__init__(len(data), batch_size)
        check_binarize(binarize)
        self.data, self.binarize = data, binarize

    def _move(self, device: torch.device) -> None:
        labels = None if self.data.labels is None else self.data.labels.to(device)
        self.data = replace(self.data, images=self.data.images.to(device), labels=labels)

    def batch(self, order: Tensor | None, i: int, generator: torch.Generator) -> Batch:
        rows = self.rows(order, i)
        labels = None if self.data.labels is None else self.data.labels[rows]
        return to_float(self.data.images[rows], self.binarize, generator), labels


class TensorBatches(EpochBatches):
    """Batches of the rows of any tensor x [N, ...] (e.g. code grids) and labels [N] (or None)."""

    def __init__(self, x: Tensor, labels: Tensor | None, batch_size: int):
        super().__init__(len(x), batch_size)
        self.x, self.labels = x, labels

    def _move(self, device: torch.device) -> None:
        self.x, self.labels = self.x.to(device), None if self.labels is None else self.labels.to(device)

    def batch(self, order: Tensor | None, i: int, generator: torch.Generator) -> Batch:
        rows = self.rows(order, i)
        return self.x[rows], None if self.labels is None else self.labels[rows]


def dataset_epochs(data: ImageDataset, batch_size: int, binarize: str = "none") -> DatasetBatches:
    """Epochs of an image dataset's batches (see DatasetBatches)."""
    return DatasetBatches(data, batch_size, binarize)


def tensor_epochs(x: Tensor, labels: Tensor | None, batch_size: int) -> TensorBatches:
    """Epochs of batches of the rows of a tensor (see TensorBatches)."""
    return TensorBatches(x, labels, batch_size)
