"""load_dataset: from a DataConfig to train and held-out splits."""

from __future__ import annotations

from dataclasses import replace

from vaelab.config import DataConfig
from vaelab.data.batches import binarize_static, check_binarize
from vaelab.data.celeba import load_celeba
from vaelab.data.cifar10 import load_cifar10
from vaelab.data.dataset import DataSplits
from vaelab.data.folder import PREFIX, folder_path, load_folder
from vaelab.data.mnist import load_mnist
from vaelab.data.shapes import make_shapes
from vaelab.data.splits import hold_out
from vaelab.errors import ConfigError

# The last is a pattern: "folder:" followed by the path of any folder of images.
DATASETS = ("shapes", "mnist", "fashion-mnist", "cifar10", "celeba", "folder:PATH")
SPLITS = ("train", "test")


def load_dataset(cfg: DataConfig) -> DataSplits:
    """Load cfg.name, keep the first cfg.limit examples, binarize if static, hold out cfg.val.

    The order matters: the limit is taken before holding out, so limit=10000, val=1000
    trains on the first 9000 and holds out the next 1000.
    """
    if cfg.name not in DATASETS[:-1] and not cfg.name.startswith(PREFIX):
        raise ConfigError(f"unknown data.name {cfg.name!r}; known datasets: {', '.join(DATASETS)} "
                          f"(PATH: any folder of .png/.jpg images).")
    if cfg.split not in SPLITS:
        raise ConfigError(f"data.split must be one of {', '.join(SPLITS)}, got {cfg.split!r}.")
    check_binarize(cfg.binarize)
    if cfg.limit is not None and cfg.limit < 1:
        raise ConfigError(f"data.limit must be at least 1 (or null for all), got {cfg.limit}.")

    if cfg.name == "shapes":  # generated, so there is no official split to choose
        data = make_shapes(cfg.num_samples, cfg.image_size, cfg.seed)
    elif cfg.name in ("mnist", "fashion-mnist"):
        data = load_mnist(cfg.name, cfg.root, cfg.split, cfg.download)
    elif cfg.name == "cifar10":
        data = load_cifar10(cfg.root, cfg.split, cfg.download)
    elif cfg.name == "celeba":
        data = load_celeba(cfg.root, cfg.split, cfg.image_size)
    else:  # a folder of images: no official split, data.root unused (the path is in the name)
        data = load_folder(folder_path(cfg.name), cfg.image_size)
    if cfg.limit is not None:
        data = data.subset(slice(0, cfg.limit))
    if cfg.binarize == "static":
        data = replace(data, images=binarize_static(data.images))
    return hold_out(data, cfg.val, cfg.split_seed)
