"""Image batches for evaluation: uint8 or float images in, float [0, 1] batches out.

Evaluation functions take a whole set of images as one tensor: uint8 [N, C, H, W] (a
dataset's `images`, one byte per pixel) or float [N, C, H, W] already in [0, 1] (model
samples). Only the current batch is converted to float, so a large uint8 set costs no
extra memory.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from vaelab.data import to_float
from vaelab.errors import ConfigError


def as_float(images: Tensor) -> Tensor:
    """uint8 [B, ...] -> float32 in [0, 1] (divided by 255); float images are returned as they are."""
    return to_float(images) if images.dtype == torch.uint8 else images


def image_batches(images: Tensor, batch_size: int, device: torch.device | str | None = None) -> Iterator[Tensor]:
    """Consecutive float batches [<=batch_size, C, H, W] in [0, 1], on `device` (default: where they are)."""
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}.")
    for start in range(0, len(images), batch_size):
        yield as_float(images[start:start + batch_size].to(device))


def labelled_batches(
    images: Tensor, labels: Tensor | None, batch_size: int, device=None
) -> Iterator[tuple[Tensor, Tensor | None]]:
    """Like `image_batches`, paired with the matching labels (int64, same device) or None."""
    for i, x in enumerate(image_batches(images, batch_size, device)):
        y = None if labels is None else labels[i * batch_size:(i + 1) * batch_size].to(x.device)
        yield x, y
