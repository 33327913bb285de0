"""Mini-batches from an in-memory dataset.

Batches are drawn by indexing the uint8 image tensor directly: for datasets that fit in
memory this is faster than a DataLoader (no per-example Python calls, no workers), and
only the current batch is ever converted to float.
"""

from __future__ import annotations

from typing import Iterator, Optional

import torch
from torch import Tensor

from vaelab.data.dataset import ImageDataset
from vaelab.errors import ConfigError

BINARIZE_MODES = ("none", "static", "dynamic")


def check_binarize(binarize: str) -> None:
    """Raise ConfigError unless `binarize` is one of BINARIZE_MODES."""
    if binarize not in BINARIZE_MODES:
        raise ConfigError(f"data.binarize must be one of {', '.join(BINARIZE_MODES)}, got {binarize!r}.")


def binarize_static(images: Tensor) -> Tensor:
    """Threshold once: uint8 [N, C, H, W] -> uint8 of the same shape, 255 where pixel > 127 else 0."""
    return (images > 127).to(torch.uint8) * 255


def to_float(images: Tensor, binarize: str = "none", generator: Optional[torch.Generator] = None) -> Tensor:
    """uint8 [B, C, H, W] -> float32 [B, C, H, W] in [0, 1].

    binarize="dynamic" draws x ~ Bernoulli(pixel / 255) afresh on every call (so each
    epoch sees a different binary sample; `generator` must live on the images' device).
    "static" and "none" only divide by 255: static thresholding is done once at load time.
    """
    check_binarize(binarize)
    x = images.float().div_(255)
    if binarize == "dynamic":
        x = torch.bernoulli(x, generator=generator)
    return x


def batches(
    dataset: ImageDataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: Optional[torch.Generator] = None,
    binarize: str = "none",
    drop_last: bool = False,
) -> Iterator[tuple[Tensor, Optional[Tensor]]]:
    """One epoch of (x, labels): x float32 [B, C, H, W] in [0, 1], labels int64 [B] or None.

    shuffle=True visits every example exactly once in the order torch.randperm(N, generator)
    gives; otherwise in dataset order. The last batch is smaller unless drop_last.
    """
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}.")
    check_binarize(binarize)
    n = len(dataset)
    order = torch.randperm(n, generator=generator) if shuffle else None
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        if drop_last and stop - start < batch_size:
            break
        # A slice is a cheap view; a permutation chunk gathers a copy of just this batch.
        index = slice(start, stop) if order is None else order[start:stop]
        labels = None if dataset.labels is None else dataset.labels[index]
        yield to_float(dataset.images[index], binarize, generator), labels
