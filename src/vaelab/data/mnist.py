"""MNIST and Fashion-MNIST from their official IDX files.

The four published files per dataset are looked for in `root`; missing ones are
downloaded (see download.py) unless downloading is disabled. Un-gzipped copies with the
same names minus ".gz" are used as they are if present (the published md5s are of the
.gz files, so those copies are not checksummed, only validated as IDX).
"""

from __future__ import annotations

from pathlib import Path

import torch

from vaelab.data.dataset import ImageDataset
from vaelab.data.download import fetch
from vaelab.data.idx import read_idx
from vaelab.data.roots import dataset_root
from vaelab.errors import DataError

# (images, labels) file names of each official split.
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# URL prefixes tried in order; tests point these at a loopback server.
MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
}

# The published md5s of the .gz files (as listed by the datasets' authors and torchvision).
MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
}


def load_mnist(name: str, root=None, split: str = "train", download: bool = True) -> ImageDataset:
    """One official split of "mnist" or "fashion-mnist".

    Returns images uint8 [N, 1, 28, 28] (N = 60000 for train, 10000 for test) and
    labels int64 [N] in 0..9.
    """
    root = dataset_root(name, root)
    image_file, label_file = FILES[split]
    try:
        images = read_idx(_locate(name, root, image_file, download))
        labels = read_idx(_locate(name, root, label_file, download))
    except DataError as e:
        if split == "train" and _has_split(root, "test"):
            raise DataError(f"{e} ({root} holds only the official test split: use data.split=test, "
                            f"with data.val to hold part of it out.)") from None
        raise

    if images.dim() != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{root / image_file}: expected images of 28x28, got shape {list(images.shape)}.")
    if labels.dim() != 1 or len(labels) != len(images):
        raise DataError(f"{root / label_file}: expected {len(images)} labels, got shape {list(labels.shape)}.")
    if len(labels) and int(labels.max()) > 9:
        raise DataError(f"{root / label_file}: labels must be 0..9, found {int(labels.max())}.")
    return ImageDataset(
        images=images.unsqueeze(1),  # [N, 28, 28] -> [N, 1, 28, 28]
        labels=labels.to(torch.int64),
        name=name,
        class_names=list(CLASS_NAMES[name]),
    )


def _locate(name: str, root: Path, filename: str, download: bool) -> Path:
    """The un-gzipped copy if present, else the verified (maybe downloaded) .gz file."""
    plain = root / filename.removesuffix(".gz")
    if plain.exists():
        return plain
    return fetch(filename, root, MIRRORS[name], MD5[name][filename], download=download)


def _has_split(root: Path, split: str) -> bool:
    return all((root / f).exists() or (root / f.removesuffix(".gz")).exists() for f in FILES[split])
