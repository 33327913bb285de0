"""In-memory image datasets.

Every dataset in vaelab is small enough to live in memory as one uint8 tensor, so a
dataset is just that tensor plus optional labels, ground-truth factors and names.
Conversion to float happens per batch (see `batches.py`), which keeps memory at one
byte per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Union

import torch

from vaelab.errors import DataError


@dataclass
class ImageDataset:
    """Images with optional labels and generative factors.

    images:  uint8 [N, C, H, W], grey levels 0..255 (binary datasets use only 0 and 255).
    labels:  int64 [N] class indices, or None.
    factors: int64 [N, F] ground-truth factor indices (the shapes dataset only), or None.
    class_names[k] names label k; factor_names[f] / factor_sizes[f] describe factor column f.
    """

    images: torch.Tensor
    labels: Optional[torch.Tensor] = None
    factors: Optional[torch.Tensor] = None
    name: str = ""
    class_names: Optional[list[str]] = None
    factor_names: Optional[list[str]] = None
    factor_sizes: Optional[list[int]] = None

    def __post_init__(self):
        # Catch a malformed dataset here rather than as a shape error deep inside a model.
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(
                f"dataset {self.name!r}: images must be uint8 [N, C, H, W], "
                f"got {self.images.dtype} of shape {tuple(self.images.shape)}."
            )
        n = len(self.images)
        for what, t in (("labels", self.labels), ("factors", self.factors)):
            if t is not None and len(t) != n:
                raise DataError(f"dataset {self.name!r}: {len(t)} {what} for {n} images.")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: Union[torch.Tensor, slice]) -> "ImageDataset":
        """The examples at `index` (a LongTensor of positions or a slice), same metadata.

        A slice returns views of this dataset's tensors; a LongTensor returns copies.
        """
        def pick(t):
            return None if t is None else t[index]

        return replace(self, images=self.images[index], labels=pick(self.labels), factors=pick(self.factors))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.images.shape[1:]
        return (c, h, w)

    @property
    def num_classes(self) -> Optional[int]:
        """Number of classes: from class_names if known, else max label + 1, else None."""
        if self.class_names is not None:
            return len(self.class_names)
        if self.labels is not None and len(self.labels) > 0:
            return int(self.labels.max()) + 1
        return None


@dataclass
class DataSplits:
    """The examples to train on and the held-out ones (None when none are held out:
    an empty held-out set becomes None, so `val is None` is the one test for it)."""

    train: ImageDataset
    val: Optional[ImageDataset]

    def __post_init__(self):
        if self.val is not None and len(self.val) == 0:
            self.val = None

    def held_out_or_train(self) -> tuple[ImageDataset, str]:
        """The images to evaluate on and which they are: the held-out ones, or the
        training ones when none were held out."""
        if self.val is not None:
            return self.val, "held-out"
        return self.train, "training (none held out)"
