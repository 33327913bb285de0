"""Holding out part of a dataset for validation."""

from __future__ import annotations

from typing import Optional

import torch

from vaelab.data.dataset import DataSplits, ImageDataset
from vaelab.errors import ConfigError


def held_out_count(val: float, n: int) -> int:
    """How many of n examples data.val holds out: a fraction if val < 1, else a count."""
    if val < 0:
        raise ConfigError(f"data.val must be >= 0 (a fraction below 1 or a count), got {val}.")
    if val < 1:
        # A positive fraction holds out at least one example, so asking for validation gets some.
        count = max(1, round(val * n)) if val > 0 else 0
    elif val != int(val):
        raise ConfigError(f"data.val >= 1 is a count of examples and must be a whole number, got {val}.")
    else:
        count = int(val)
    if count >= n:
        raise ConfigError(f"data.val={val} holds out {count} of {n} examples, leaving none to train on.")
    return count


def hold_out(dataset: ImageDataset, val: float, seed: Optional[int] = None) -> DataSplits:
    """Split into train and held-out parts.

    seed None holds out the last examples (e.g. the first 9000 train, the last 1000 are
    held out); an int holds out a random subset drawn with that seed. Both parts keep
    the dataset's order. val 0 gives DataSplits(train=dataset, val=None).
    """
    n = len(dataset)
    count = held_out_count(val, n)
    if count == 0:
        return DataSplits(train=dataset, val=None)
    if seed is None:
        return DataSplits(train=dataset.subset(slice(0, n - count)), val=dataset.subset(slice(n - count, n)))
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val_index, train_index = perm[:count].sort().values, perm[count:].sort().values
    return DataSplits(train=dataset.subset(train_index), val=dataset.subset(val_index))
