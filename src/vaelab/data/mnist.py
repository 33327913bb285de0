"""MNIST and Fashion-MNIST from their official IDX files.

The four published files per dataset are looked for in `root`; missing ones are
downloaded over https (see download.py) unless downloading is disabled. Each .gz file,
present or downloaded, must match its pinned SHA-256 (and the publisher's md5 beside
it). Un-gzipped copies with the same names minus ".gz" are used as they are if present
(the pinned digests are of the .gz files, so those copies are not checksummed, only
validated as IDX).
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

# URL prefixes tried in order, https only; tests point these at a loopback server.
MIRRORS = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's mirror
        "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow Datasets' source
    ],
    "fashion-mnist": [
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        "https://fashion-mnist.s3.eu-central-1.amazonaws.com/",  # the authors' bucket, its https endpoint
    ],
}

# Pinned SHA-256 of each published .gz file: the check that must hold.
SHA256 = {
    # As listed (url, size, sha256) in tensorflow/datasets tensorflow_datasets/url_checksums/mnist.txt,
    # the same in pytorch/vision torchvision/prototype/datasets/_builtin/mnist.py; both t10k values
    # also computed here from the official files in ../shared/data/mnist (and its SHA256SUMS).
    "mnist": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    # As listed in tensorflow/datasets tensorflow_datasets/url_checksums/fashion_mnist.txt, the same
    # in pytorch/vision torchvision/prototype/datasets/_builtin/mnist.py (FashionMNIST).
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}

# The publishers' md5 of the same files, checked beside the SHA-256.
MD5 = {
    # As torchvision (torchvision/datasets/mnist.py) lists them; t10k values also in
    # ../shared/data/mnist/README.md and computed here from those files.
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    # As published in the Fashion-MNIST README (zalandoresearch/fashion-mnist) and listed by torchvision.
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
    return fetch(filename, root, MIRRORS[name], SHA256[name][filename], md5=MD5[name][filename],
                 download=download)


def _has_split(root: Path, split: str) -> bool:
    return all((root / f).exists() or (root / f.removesuffix(".gz")).exists() for f in FILES[split])
