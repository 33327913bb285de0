"""load_dataset: from a DataConfig to train and held-out splits."""

from __future__ import annotations

from dataclasses import replace

from vaelab.config import NO_DATA, DataConfig
from vaelab.data.batches import binarize_static
from vaelab.data.celeba import load_celeba
from vaelab.data.cifar10 import load_cifar10
from vaelab.data.dataset import DataSplits
from vaelab.data.folder import folder_path, load_folder
from vaelab.data.mnist import load_mnist
from vaelab.data.shapes import make_shapes
from vaelab.data.splits import hold_out
from vaelab.errors import DataError

# The last is a pattern: "folder:" followed by the path of any folder of images.
DATASETS = ("shapes", "mnist", "fashion-mnist", "cifar10", "celeba", "folder:PATH")


def load_dataset(cfg: DataConfig) -> DataSplits:
    """Load cfg.name, keep the first cfg.limit examples, binarize if static, hold out cfg.val.

    The order matters: the limit is taken before holding out, so limit=10000, val=1000
    trains on the first 9000 and holds out the next 1000.
    """
    if cfg.name == NO_DATA:
        raise DataError(f"data.name={NO_DATA}: this folder has no data set to load by name (its data came from "
                        f"Python, or it was saved with save_pretrained): pass the data in from Python")
    # cfg checked its own values as it was made (config.Section): the name, split, binarization and limit are known
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
