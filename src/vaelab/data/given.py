"""Data handed in from Python: your own tensors or torch Dataset as an ImageDataset, and the
record a run keeps of the data it was trained on.

vaelab keeps images as uint8 [N, C, H, W] (grey levels 0..255) everywhere: float images
in [0, 1] are stored as the nearest of those 256 levels, as any 8-bit image file would be.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import torch
from torch.utils.data import Dataset

from vaelab.config import DataConfig
from vaelab.data.batches import binarize_static
from vaelab.data.dataset import DataSplits, ImageDataset
from vaelab.data.load import load_dataset
from vaelab.data.splits import hold_out
from vaelab.errors import DataError

GIVEN = "tensors"  # the name of data handed in as tensors


def given_dataset(images: Any, labels: torch.Tensor | None = None, name: str = GIVEN) -> ImageDataset:
    """`images` as an ImageDataset: a tensor [N, C, H, W] (or [N, H, W], one channel), uint8
    or float in [0, 1]; an ImageDataset (returned as it is); or a torch Dataset whose items
    are images [C, H, W] or (image, label) pairs. `labels`: int64 [N] class indices."""
    if isinstance(images, ImageDataset):
        return images
    if isinstance(images, Dataset):
        if labels is not None:
            raise DataError("a torch Dataset brings its own labels, as (image, label) items: pass no labels")
        name = type(images).__name__
        images, labels = _stacked(images)
    if not isinstance(images, torch.Tensor):
        raise DataError(f"data must be a tensor of images, an ImageDataset or a torch Dataset, not a {type(images).__name__}")
    if images.dim() == 3:
        images = images.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
    if labels is not None:
        labels = _class_indices(torch.as_tensor(labels), len(images))
    return ImageDataset(_levels(images), labels=labels, name=name)


def given_splits(data: Any, labels: torch.Tensor | None, cfg: DataConfig) -> DataSplits:
    """Data handed to `vaelab.train` as training and held-out parts: DataSplits as they are;
    anything `given_dataset` takes binarized when cfg.binarize is static and split by
    cfg.val and cfg.split_seed, as a data set loaded by name would be."""
    if isinstance(data, DataSplits):
        if labels is not None:
            raise DataError("DataSplits bring their own labels: pass no labels")
        return data
    dataset = given_dataset(data, labels)
    if cfg.binarize == "static":
        dataset = replace(dataset, images=binarize_static(dataset.images))
    return hold_out(dataset, cfg.val, cfg.split_seed)


def run_data(cfg: DataConfig, data: Any = None, labels: torch.Tensor | None = None) -> DataSplits:
    """The data a run is used with: `data` handed in (given_splits, held out as at training)
    or, when none is, the data set `cfg` names (load_dataset; a run whose data came from
    Python has none, and that refusal says so in one line)."""
    return load_dataset(cfg) if data is None else given_splits(data, labels, cfg)


def _stacked(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Every item of a map-style Dataset, images stacked [N, C, H, W] and labels [N] (or None)."""
    items = [dataset[i] for i in range(len(dataset))]
    if not items:
        raise DataError(f"the {type(dataset).__name__} holds no items")
    if isinstance(items[0], (tuple, list)):
        return torch.stack([torch.as_tensor(item[0]) for item in items]), torch.tensor([int(item[1]) for item in items])
    return torch.stack([torch.as_tensor(item) for item in items]), None


def _levels(images: torch.Tensor) -> torch.Tensor:
    """Images as uint8 levels: uint8 as they are, floats in [0, 1] times 255, rounded."""
    if images.dim() != 4:
        raise DataError(f"images must be [N, C, H, W] (or [N, H, W]), got {list(images.shape)}")
    if images.dtype == torch.uint8:
        return images.contiguous()
    if not images.is_floating_point():
        raise DataError(f"images must be uint8 (0..255) or float in [0, 1], got {images.dtype}")
    low, high = float(images.min()), float(images.max())
    if not (0 <= low and high <= 1):  # NaN fails both
        raise DataError(f"float images must lie in [0, 1], got values in [{low:g}, {high:g}]")
    return (images.detach().float() * 255).round().to(torch.uint8).cpu().contiguous()


def _class_indices(labels: torch.Tensor, n: int) -> torch.Tensor:
    if labels.dim() != 1 or len(labels) != n or labels.is_floating_point() or (n and int(labels.min()) < 0):
        raise DataError(f"labels must be {n} class indices (int, >= 0) for {n} images, got {labels.dtype} "
                        f"{list(labels.shape)}")
    return labels.long()


def data_record(data: DataSplits) -> dict:
    """What a run keeps of the data it was trained on: the name, the shapes of the training
    and held-out images, their dtype, whether they have labels, and a sha256 of every image
    and label (training part first), so that anyone can tell whether data are the same."""
    digest = hashlib.sha256()
    for part in (data.train, data.val):
        for tensor in () if part is None else (part.images, part.labels):
            if tensor is not None:
                digest.update(tensor.contiguous().cpu().numpy().tobytes())
    return {"name": data.train.name, "train": list(data.train.images.shape),
            "held_out": None if data.val is None else list(data.val.images.shape),
            "dtype": str(data.train.images.dtype).removeprefix("torch."), "labels": data.train.labels is not None,
            "sha256": digest.hexdigest()}
