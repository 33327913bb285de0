"""CIFAR-10 from its official "python version" archive.

cifar-10-python.tar.gz is downloaded over https into `root` unless present (present or
downloaded, it must match its pinned SHA-256, and the md5 published on the CIFAR page
beside it; see download.py) and extracted (see archive.py) into root/cifar-10-batches-py:

    data_batch_1 .. data_batch_5   the 50,000 training images, 10,000 per file
    test_batch                     the 10,000 test images
    batches.meta                   the class names

Each batch is a pickled dict: b"data" uint8 [10000, 3072], one image per row: the 1024
red values, then green, then blue, each 32 rows of 32 (so it reshapes to [3, 32, 32]);
b"labels" is a list of 10000 ints in 0..9.

A root/cifar-10-batches-py already there is used as it is, without the archive. Either
way each file's md5 is checked against the official archive's copy (as torchvision lists
them; we found no published SHA-256 of the extracted files) before it is read. md5 is not
collision-resistant, so reading does not rely on it: a plain unpickler calls whatever the
file names, but the batches are read by a restricted one that resolves only numpy's array
and dtype rebuilders (ALLOWED_GLOBALS; the rest of a batch is dicts, lists, ints and byte
strings, which need none) and refuses any other name with DataError before calling
anything, so reading runs no code from the file.
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

# URL prefixes tried in order, https only; tests point these at a loopback server.
MIRRORS = ["https://www.cs.toronto.edu/~kriz/"]

# Pinned SHA-256 of the archive, as listed in tensorflow/datasets
# tensorflow_datasets/url_checksums/cifar10.csv; the same in keras-team/keras
# keras/src/datasets/cifar10.py (file_hash) and pytorch/vision
# torchvision/prototype/datasets/_builtin/cifar.py.
ARCHIVE_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
# The archive's md5 as published on https://www.cs.toronto.edu/~kriz/cifar.html (and in
# torchvision/datasets/cifar.py), checked beside the SHA-256.
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
# The md5 of the files in the archive, as torchvision/datasets/cifar.py lists them.
FILE_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}

# Every global a genuine batch names, exactly: written by Python 2 with numpy 1, its arrays
# are rebuilt by numpy.core.multiarray._reconstruct(numpy.ndarray, ...) and numpy.dtype
# (numpy._core is numpy 2's name for the same module). Anything else is refused.
ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
})


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that resolves only ALLOWED_GLOBALS, so a file cannot name code to run."""

    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            shown = f"{module}.{name}"
            if len(shown) > 200 or not shown.isprintable():
                shown = ascii(shown[:200])
            raise DataError(f"the CIFAR-10 reader refuses to load {shown}: not part of a CIFAR-10 batch")
        return super().find_class(module, name)


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
        archive = fetch(ARCHIVE, root, MIRRORS, ARCHIVE_SHA256, md5=ARCHIVE_MD5, download=download)
        extract_tar(archive, root, FOLDER)

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
    # Even bytes that pass the md5 check cannot run code: _BatchUnpickler resolves no other global.
    try:
        with open(path, "rb") as f:
            content = _BatchUnpickler(f, encoding="bytes").load()
    except DataError as e:
        raise DataError(f"{path}: {e}; {redo}.") from None
    except Exception as e:  # noqa: BLE001 - whatever unpickling raises, the file is unusable
        raise DataError(f"{path}: cannot unpickle it ({type(e).__name__}: {e}); {redo}.") from None
    if not isinstance(content, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(content).__name__}.")
    return content
