"""Image files (PNG, JPEG) decoded into one uint8 tensor of square images.

Every image is cut to a square around its centre and resized to `size` x `size` with
Pillow's BILINEAR filter. For shrinking, Pillow widens the filter to the scale factor,
so this is an antialiased (triangle) average over the whole footprint: smooth, no
ringing or overshoot (unlike LANCZOS), and the same resampling torchvision's Resize
applies to PIL images, so numbers stay comparable with the usual CenterCrop + Resize
pipelines.

Decoding runs on a few threads (Pillow releases the GIL while decoding and resizing).
A file that cannot be read is not skipped: all failures are collected and reported in
one DataError naming them.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps
from tqdm import tqdm

from vaelab.errors import ConfigError, DataError

SUFFIXES = (".png", ".jpg", ".jpeg")  # compared lower-cased
GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N")
WORKERS = min(8, os.cpu_count() or 1)
CHUNK = 256  # images per task: few futures even for 200k files
SHOWN = 5  # failed files named in the error; the rest are counted


def check_image_size(size: int) -> None:
    if size < 1:
        raise ConfigError(f"data.image_size must be at least 1 pixel, got {size}.")


def is_image_file(path: Path) -> bool:
    """A .png/.jpg/.jpeg file (any case) that is not hidden: dot files such as macOS's
    '._x.jpg' resource forks share the suffix but are not images."""
    return path.suffix.lower() in SUFFIXES and not path.name.startswith(".")


def image_mode(path: Path) -> str:
    """The Pillow mode of a file, read from its header only (no pixels decoded)."""
    with Image.open(path) as img:
        return img.mode


def read_square(path: Path, size: int, mode: str, crop: Optional[int] = None) -> np.ndarray:
    """One file -> uint8 [size, size] (mode "L") or [size, size, 3] (mode "RGB").

    The square cut around the centre has side `crop`, or min(width, height) when `crop`
    is None or larger than the image; for an odd margin the extra pixel is on the right/bottom.
    Alpha is dropped. The EXIF orientation is applied first, so photos come out upright.
    """
    with Image.open(path) as img:
        ImageOps.exif_transpose(img, in_place=True)
        if img.mode.startswith("I"):
            # 16-bit greyscale PNG: Pillow's convert("L") clips at 255 instead of scaling.
            img = Image.fromarray((np.asarray(img) >> 8).astype(np.uint8))
        img = img.convert(mode)
        w, h = img.size
        side = min(w, h) if crop is None else min(crop, w, h)
        left, top = (w - side) // 2, (h - side) // 2
        # Crop first: resize(box=...) would let the filter reach pixels outside the square.
        img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
        return np.asarray(img, dtype=np.uint8)


def decode_images(paths: Sequence[Path], size: int, mode: str, crop: Optional[int] = None,
                  desc: str = "decoding images", where: Optional[Path] = None) -> torch.Tensor:
    """All `paths` through read_square -> uint8 [N, C, size, size], C = 1 for "L", 3 for "RGB".

    Raises DataError naming the files that could not be decoded (`where` is the folder
    the message names).
    """
    out = torch.empty(len(paths), 1 if mode == "L" else 3, size, size, dtype=torch.uint8)
    target = out.numpy()  # shares out's memory; each thread fills its own rows

    def one(i: int) -> None:
        pixels = read_square(paths[i], size, mode, crop)
        target[i] = pixels[None] if mode == "L" else pixels.transpose(2, 0, 1)  # HWC -> CHW

    run_each(one, paths, desc, where)
    return out


def run_each(fn: Callable[[int], object], paths: Sequence[Path], desc: str,
             where: Optional[Path] = None) -> list:
    """[fn(0), ..., fn(N-1)] on a thread pool, with a progress bar on stderr when it is a terminal.

    fn(i) works on paths[i]; if it fails for any i, raises one DataError naming those files.
    """
    chunks = [range(start, min(start + CHUNK, len(paths))) for start in range(0, len(paths), CHUNK)]
    results, failed = [None] * len(paths), []

    def task(chunk: range) -> None:
        for i in chunk:
            try:
                results[i] = fn(i)
            # Anything a decoder raises (OSError, SyntaxError for broken PNGs, ValueError,
            # DecompressionBombError, ...) means this file is unusable; name it below.
            except Exception as e:  # noqa: BLE001
                failed.append((i, e))

    pool = ThreadPoolExecutor(WORKERS)
    try:
        with tqdm(total=len(paths), desc=desc, unit="img", disable=None, leave=False) as bar:
            for chunk, _ in zip(chunks, pool.map(task, chunks)):
                bar.update(len(chunk))
    finally:
        # On Ctrl-C, drop the chunks not started rather than decode them all before stopping.
        pool.shutdown(cancel_futures=True)
    if failed:
        raise unreadable(sorted(failed, key=lambda f: f[0]), paths, where)
    return results


def unreadable(failed: list, paths: Sequence[Path], where: Optional[Path]) -> DataError:
    """One error for all the files that failed: the first few by name, then a count."""
    names = [str(paths[i].relative_to(where) if where else paths[i]) for i, _ in failed[:SHOWN]]
    more = f" and {len(failed) - SHOWN} more" if len(failed) > SHOWN else ""
    first = failed[0][1]
    return DataError(
        f"{len(failed)} of {len(paths)} image files{f' in {where}' if where else ''} cannot be read: "
        f"{', '.join(names)}{more} (first error: {type(first).__name__}: {first}); "
        f"delete or replace them and run again."
    )
