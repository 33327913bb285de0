"""Tile a batch of images into one PNG."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor


def image_grid(images: Tensor, nrow: int | None = None, pad: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """[N, C, H, W] float in [0, 1] -> uint8 array [rows*(H+pad)+pad, nrow*(W+pad)+pad, C].

    Images fill the grid row by row, `nrow` per row (default: a near-square grid).
    """
    images = images.detach().float().cpu().clamp(0, 1)
    n, c, h, w = images.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = torch.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), pad_value)
    for i, img in enumerate(images):
        r, col = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, top : top + h, left : left + w] = img
    return (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def save_grid(images: Tensor, path: str | Path, nrow: int | None = None, scale: int = 1) -> Path:
    """Write `image_grid(images, nrow)` as a PNG (grey or RGB), enlarged `scale` times."""
    array = image_grid(images, nrow)
    if array.shape[2] == 1:
        array = array[:, :, 0]
    picture = Image.fromarray(array)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path)
    return path
