"""CIFAR-10 from its official "python version" archive.

cifar-10-python.tar.gz is downloaded into `root` unless present (its published md5 is
checked, see download.py) and extracted (see archive.py) into root/cifar-10-batches-py:

    data_batch_1 .. data_batch_5   the 50,000 training images, 10,000 per file
    test_batch                     the 10,000 test images
    batches.meta                   the class names

Each batch is a pickled dict: b"data" uint8 [10000, 3072], one image per row: the 1024
red values, then green, then blue, each 32 rows of 32 (so it reshapes to [3, 32, 32]);
b"labels" is a list of 10000 ints in 0..9.

A root/cifar-10-batches-py already there is used as it is, without the archive. Either
way each file's md5 is checked against the official archive's copy before it is read:
unpickling can run code named in the file, so pickle only ever reads these verified bytes.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from vaelab.data.archive import extract_tar
from vaelab.data.dataset import ImageDataset
from vaelab.data.download import fetch, md5sum
from vaelab.data.roots import dataset_root
from vaelab.errors import ConfigError, DataError

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
META = "batches.meta"

# URL prefixes tried in order; tests point these at a loopback server.
MIRRORS = ["https://www.cs.toronto.edu/~kriz/"]

# The published md5 of the archive, and of the files in it (as torchvision lists them).
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
FILE_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}


def load_cifar10(root=None, split: str = "train", download: bool = True) -> ImageDataset:
    """One official split of CIFAR-10.

    Returns images uint8 [N, 3, 32, 32] (RGB; N = 50000 for train, 10000 for test),
    labels int64 [N] in 0..9 and class_names ("airplane", ..., "truck").
    """
    if split not in BATCHES:
        raise ConfigError(f"data.split must be one of {', '.join(BATCHES)}, got {split!r}.")
    root = dataset_root("cifar10", root)
    folder = root / FOLDER
    if not folder.is_dir():
        extract_tar(fetch(ARCHIVE, root, MIRRORS, ARCHIVE_MD5, download=download), root, FOLDER)

    images, labels = [], []
    for name in BATCHES[split]:
        batch_images, batch_labels = _read_batch(folder / name)
        images.append(batch_images)
        labels.append(batch_labels)
    meta = _unpickle(folder / META)
    class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get(b"label_names", [])]
    if len(class_names) != 10:
        raise DataError(f"{folder / META}: expected 10 b'label_names', got {len(class_names)}.")
    return ImageDataset(
        images=torch.cat(images),
        labels=torch.cat(labels),
        name="cifar10",
        class_names=class_names,
    )


def _read_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch file -> images uint8 [n, 3, 32, 32], labels int64 [n]."""
    batch = _unpickle(path)
    data, labels = batch.get(b"data"), batch.get(b"labels")
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32 and labels is not None and len(labels) == len(data)):
        raise DataError(f"{path}: expected b'data' uint8 [N, 3072] and N b'labels'; "
                        f"this is not a CIFAR-10 batch file.")
    labels = torch.tensor(list(labels), dtype=torch.int64)
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) <= 9:
        raise DataError(f"{path}: labels must be 0..9, found {int(labels.min())}..{int(labels.max())}.")
    # Rows are channel-major (all red, then green, then blue), so this is [n, C, H, W] as is.
    return torch.from_numpy(data.copy()).reshape(-1, 3, 32, 32), labels


def _unpickle(path: Path) -> dict:
    """A dict from a verified CIFAR-10 pickle file (written by Python 2: str keys come back as bytes)."""
    expected = FILE_MD5[path.name]
    redo = f"delete the folder {path.parent} and run again to extract it afresh from {ARCHIVE}"
    try:
        got = md5sum(path)
    except FileNotFoundError:
        raise DataError(f"{path} is missing: the folder is incomplete; {redo}.") from None
    except OSError as e:
        raise DataError(f"cannot read {path} to check its md5 ({e}).") from None
    if got != expected:
        raise DataError(f"{path} has md5 {got}, expected {expected}: it is not the file of the "
                        f"official archive; {redo}.")
    # Safe only because of the check above: these are the official archive's bytes.
    try:
        with open(path, "rb") as f:
            content = pickle.load(f, encoding="bytes")
    except Exception as e:  # noqa: BLE001 - whatever unpickling raises, the file is unusable
        raise DataError(f"{path}: cannot unpickle it ({type(e).__name__}: {e}); {redo}.") from None
    if not isinstance(content, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(content).__name__}.")
    return content
