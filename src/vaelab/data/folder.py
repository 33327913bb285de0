"""Any folder of images: data.name = "folder:PATH".

Files: every .png, .jpg and .jpeg (any case) under PATH, recursively, in sorted order of
their paths compared folder by folder (names sorted by code point at each level, so the
order is the same on every system and Python version). Names starting with "." (hidden
files and folders, macOS "._x.jpg" forks) are skipped. Linked folders are followed,
except a link back to a folder above it (a cycle).

Labels: when the images are in sub-folders, the first-level sub-folder is the class:
class_names are the sorted names of the sub-folders that hold images, labels index them
(images deeper down belong to their first-level folder). With all images directly in
PATH, labels are None. Images both directly in PATH and in sub-folders are an error:
they would have no class.

Preprocessing: the largest square around the centre, resized to image_size with
BILINEAR (see imagefiles.py).

Channels: C = 1 if every image is greyscale (Pillow modes 1, L, LA, I, I;16: alpha is
dropped, 16 bits are scaled to 8), else C = 3 and every image is converted to RGB
(greyscale ones repeated over the three channels, alpha dropped; palette images count
as colour). So a folder of scans stays one-channel, and one colour image makes all colour.

There is no official split: data.split is ignored; hold examples out with data.val.
Nothing is written into the folder (no cache: it may be read-only, and it is yours).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import torch

from vaelab.data.dataset import ImageDataset
from vaelab.data.imagefiles import GREY_MODES, check_image_size, decode_images, image_mode, is_image_file, run_each
from vaelab.errors import ConfigError, DataError

PREFIX = "folder:"


def folder_path(name: str) -> Path:
    """The folder of data.name "folder:PATH" ("~" expanded)."""
    path = name.removeprefix(PREFIX).strip()
    if not path:
        raise ConfigError(f"data.name {name!r} names no folder; write it as folder:PATH, e.g. folder:~/photos.")
    return Path(path).expanduser()


def load_folder(path, image_size: int = 64) -> ImageDataset:
    """The images under `path`: uint8 [N, C, image_size, image_size], C = 1 or 3 (see above).

    labels int64 [N] and class_names from the sub-folders, or None for a flat folder.
    """
    check_image_size(image_size)
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder (from data.name folder:{path}); "
                        f"give the path of a folder of .png/.jpg images.")
    files = list(_image_files(folder, frozenset({os.path.realpath(folder)})))
    if not files:
        raise DataError(f"{folder} holds no .png, .jpg or .jpeg images (searched recursively).")
    relative = [f.relative_to(folder) for f in files]
    classes = [r.parts[0] for r in relative if len(r.parts) > 1]
    if classes and len(classes) < len(files):
        loose = next(r for r in relative if len(r.parts) == 1)
        raise DataError(f"{folder} holds images both directly in it (e.g. {loose}) and in sub-folders; "
                        f"put all of them in class sub-folders, or none, so that each has a label or none has.")

    modes = run_each(lambda i: image_mode(files[i]), files, "reading image headers", folder)
    mode = "L" if all(m in GREY_MODES for m in modes) else "RGB"
    images = decode_images(files, image_size, mode, desc=f"decoding {folder.name}", where=folder)

    labels = class_names = None
    if classes:
        class_names = sorted(set(classes))
        index = {name: k for k, name in enumerate(class_names)}
        labels = torch.tensor([index[c] for c in classes], dtype=torch.int64)
    return ImageDataset(images=images, labels=labels, name=f"{PREFIX}{path}", class_names=class_names)


def _image_files(folder: Path, above: frozenset) -> Iterator[Path]:
    """Image files under `folder`, depth first, names sorted at each level; `above` holds
    the real paths of the folders being walked, to skip links that lead back to them."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        raise DataError(f"cannot list {folder} ({e}).") from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            real = os.path.realpath(entry.path)
            if real not in above:
                yield from _image_files(Path(entry.path), above | {real})
        elif is_image_file(Path(entry.name)) and entry.is_file():
            yield Path(entry.path)
