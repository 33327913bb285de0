"""Tile a batch of images into one picture (PNG, JPEG or PDF, by the file's extension)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from vaelab.errors import ConfigError
from vaelab.files import atomic_write

# What Pillow writes from a grey or RGB grid, chosen by the file's extension (any case).
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf")
# The largest picture written: Pillow's default limit for opening one (Image.MAX_IMAGE_PIXELS;
# beyond it Image.open warns of a decompression bomb), so that every picture written can be
# read back, by the report among others. It also bounds the memory a grid takes.
MAX_PICTURE_PIXELS = 89_478_485
JPEG_SUFFIXES = (".jpg", ".jpeg", ".pdf")  # Pillow writes a PDF's picture as a JPEG
MAX_JPEG_SIDE = 65_500  # the JPEG format's limit (in pixels, each side)


def check_picture_path(path: str | Path) -> Path:
    """`path` as a Path; ConfigError unless it ends in a picture extension and is not a folder."""
    path = Path(path)
    if path.suffix.lower() not in PICTURE_SUFFIXES:
        raise ConfigError(f"a picture file ends in {', '.join(PICTURE_SUFFIXES)}; not {str(path)!r}")
    if path.is_dir():
        raise ConfigError(f"{str(path)!r} is a folder, not a picture file")
    return path


def check_grid_size(n: int, image_shape: tuple[int, ...], nrow: int | None = None, scale: int = 1,
                    path: str | Path = "grid.png", pad: int = 2) -> None:
    """ConfigError unless `n` >= 1 images of `image_shape` (.., H, W) tile into a picture that
    `path`'s format can hold: at most MAX_PICTURE_PIXELS, and for JPEG and PDF (JPEG inside)
    at most MAX_JPEG_SIDE pixels a side. The check to make before drawing the images."""
    if n < 1:
        raise ConfigError(f"a picture needs at least 1 image, got {n}")
    h, w = image_shape[-2:]
    nrow = nrow or math.ceil(math.sqrt(n))  # as image_grid tiles them
    height = (math.ceil(n / nrow) * (h + pad) + pad) * scale
    width = (nrow * (w + pad) + pad) * scale
    if width * height > MAX_PICTURE_PIXELS:
        raise ConfigError(f"{n} images of {h}x{w} pixels make a picture of {width * height:,} pixels, "
                          f"more than the {MAX_PICTURE_PIXELS:,} a picture may have: draw fewer")
    if Path(path).suffix.lower() in JPEG_SUFFIXES and max(width, height) > MAX_JPEG_SIDE:
        raise ConfigError(f"{n} images of {h}x{w} pixels make a picture of {width}x{height} pixels; a JPEG or PDF "
                          f"has at most {MAX_JPEG_SIDE:,} a side: draw fewer, or write a PNG")


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
    """Write `image_grid(images, nrow)` (grey or RGB), enlarged `scale` times, as a PNG, JPEG or
    PDF by the extension of `path` (see PICTURE_SUFFIXES); creates its folder. ConfigError for
    another extension, a folder, no images or too large a picture (`check_grid_size`)."""
    path = check_picture_path(path)
    check_grid_size(len(images), images.shape, nrow, scale, path)
    array = image_grid(images, nrow)
    if array.shape[2] == 1:
        array = array[:, :, 0]
    picture = Image.fromarray(array)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    fmt = Image.registered_extensions()[path.suffix.lower()]  # the name's format, for a temporary name
    atomic_write(path, lambda tmp: picture.save(tmp, format=fmt))
    return path
