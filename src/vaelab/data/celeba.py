"""CelebA: the aligned and cropped faces (img_align_celeba/: 202,599 JPEGs of 178x218).

Not downloaded: CelebA is distributed through Google Drive, which offers no stable
file URLs to fetch and check. The folder img_align_celeba/ (from img_align_celeba.zip)
has to be placed in `root` by hand.

Preprocessing: a 140x140 square around the image centre, resized to image_size with
Pillow's BILINEAR filter (antialiased when shrinking, see imagefiles.py). The faces are
aligned to the middle of the frame; 140 keeps the whole face, forehead to chin, with
little background. It is the crop of e.g. the WAE paper (Tolstikhin et al., 2018) and
of many VAE papers on 64x64 CelebA, so results are comparable.

Splits: list_eval_partition.txt in `root` (lines "000001.jpg 0") gives each image a
partition: 0 train, 1 validation, 2 test. split "train" is partition 0, "test" is
partition 2. Partition 1 is not used: vaelab holds its validation examples out of the
chosen split (data.val), and keeping "train" exactly the official training set keeps
numbers comparable with published ones. Without the file, "train" is every image in
the folder and "test" is an error (there is no test set to take it from).

Cache: decoding 200k JPEGs takes minutes, so the decoded images are saved in `root` as
celeba_<train|test|all>_<size>px.safetensors and reused while they would come out the
same: same file names (an md5 of the sorted list), same size, same crop, same
preprocessing version. Otherwise the cache is rebuilt. Replacing a file by another of
the same name is not noticed: delete the cache file then.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

from safetensors import SafetensorError

from vaelab.data.cache import load_cached, save_cached
from vaelab.data.dataset import ImageDataset
from vaelab.data.imagefiles import SHOWN, check_image_size, decode_images, is_image_file
from vaelab.data.roots import dataset_root
from vaelab.errors import ConfigError, DataError

FOLDER = "img_align_celeba"
PARTITIONS = "list_eval_partition.txt"
PARTITION_OF = {"train": "0", "test": "2"}
CROP = 140
CACHE_VERSION = "1"  # bump when the preprocessing changes, so old caches are rebuilt


def load_celeba(root=None, split: str = "train", image_size: int = 64) -> ImageDataset:
    """CelebA faces as images uint8 [N, 3, image_size, image_size] (RGB), no labels.

    N = 162,770 for "train" and 19,962 for "test" with the official partition file,
    202,599 (all) for "train" without it.
    """
    if split not in PARTITION_OF:
        raise ConfigError(f"data.split must be one of {', '.join(PARTITION_OF)}, got {split!r}.")
    check_image_size(image_size)
    root = dataset_root("celeba", root)
    folder = root / FOLDER
    if not folder.is_dir():
        raise DataError(
            f"CelebA not found: {folder} does not exist. CelebA cannot be downloaded automatically "
            f"(it is on Google Drive): get img_align_celeba.zip (and list_eval_partition.txt) from "
            f"https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html, unzip it so that the JPEGs are in "
            f"{folder}, put list_eval_partition.txt in {root}, or set data.root to where they are."
        )
    names, part = _split_names(root, folder, split)

    cache = root / f"celeba_{part}_{image_size}px.safetensors"
    meta = {
        "format": "vaelab-celeba-cache",
        "version": CACHE_VERSION,
        "image_size": str(image_size),
        "crop": str(CROP),
        "count": str(len(names)),
        "names_md5": hashlib.md5("\n".join(names).encode(), usedforsecurity=False).hexdigest(),
    }
    images = load_cached(cache, meta)
    if images is None:
        images = decode_images([folder / n for n in names], image_size, "RGB", CROP,
                               desc=f"decoding CelebA ({part})", where=folder)
        try:
            save_cached(cache, images, meta)
        except (OSError, SafetensorError) as e:
            # The images are fine; only the next run is slower. Say why rather than fail.
            warnings.warn(f"could not write the CelebA cache {cache} ({e}); the images will be "
                          f"decoded again next time.", stacklevel=2)
    return ImageDataset(images=images, name="celeba")


def _split_names(root: Path, folder: Path, split: str) -> tuple[list[str], str]:
    """(sorted file names of `split`, "train" | "test" | "all" when there is no partition file)."""
    try:
        present = sorted(e.name for e in os.scandir(folder) if is_image_file(Path(e.name)) and e.is_file())
    except OSError as e:
        raise DataError(f"cannot list {folder} ({e}).") from None
    if not present:
        raise DataError(f"{folder} holds no .jpg/.jpeg/.png images; unzip img_align_celeba.zip there.")
    listing = root / PARTITIONS
    if not listing.exists():
        if split == "test":
            raise DataError(f"data.split=test needs the official partition file {listing} (lines like "
                            f"'000001.jpg 0', from the CelebA site); without it all images are the train split.")
        return present, "all"

    try:
        lines = listing.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {listing} ({e}).") from None
    wanted = []
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DataError(f"{listing}, line {number}: expected '<file name> <0|1|2>', got {line!r}.")
        if fields[1] == PARTITION_OF[split]:
            wanted.append(fields[0])
    missing = sorted(set(wanted) - set(present))
    if missing:
        more = f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else ""
        raise DataError(
            f"{len(missing)} of the {len(wanted)} {split} images listed in {listing} are not in {folder} "
            f"({', '.join(missing[:SHOWN])}{more}): the folder is incomplete; unzip img_align_celeba.zip "
            f"again, or delete {PARTITIONS} to use the images there without the official splits."
        )
    if not wanted:
        raise DataError(f"{listing} lists no images of partition {PARTITION_OF[split]} ({split}).")
    return sorted(wanted), split
