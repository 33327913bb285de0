"""load_dataset: from a DataConfig to train and held-out splits."""

from __future__ import annotations

from dataclasses import replace

from vaelab.config import DataConfig
from vaelab.data.batches import binarize_static, check_binarize
from vaelab.data.dataset import DataSplits
from vaelab.data.mnist import load_mnist
from vaelab.data.shapes import make_shapes
from vaelab.data.splits import hold_out
from vaelab.errors import ConfigError

DATASETS = ("shapes", "mnist", "fashion-mnist")
SPLITS = ("train", "test")


def load_dataset(cfg: DataConfig) -> DataSplits:
    """Load cfg.name, keep the first cfg.limit examples, binarize if static, hold out cfg.val.

    The order matters: the limit is taken before holding out, so limit=10000, val=1000
    trains on the first 9000 and holds out the next 1000.
    """
    if cfg.name not in DATASETS:
        raise ConfigError(f"unknown data.name {cfg.name!r}; known datasets: {', '.join(DATASETS)}.")
    if cfg.split not in SPLITS:
        raise ConfigError(f"data.split must be one of {', '.join(SPLITS)}, got {cfg.split!r}.")
    check_binarize(cfg.binarize)
    if cfg.limit is not None and cfg.limit < 1:
        raise ConfigError(f"data.limit must be at least 1 (or null for all), got {cfg.limit}.")

    if cfg.name == "shapes":  # generated, so there is no official split to choose
        data = make_shapes(cfg.num_samples, cfg.image_size, cfg.seed)
    else:
        data = load_mnist(cfg.name, cfg.root, cfg.split, cfg.download)
    if cfg.limit is not None:
        data = data.subset(slice(0, cfg.limit))
    if cfg.binarize == "static":
        data = replace(data, images=binarize_static(data.images))
    return hold_out(data, cfg.val, cfg.split_seed)
