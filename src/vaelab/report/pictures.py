"""The pictures of a run in a report: those saved in its folder, and those drawn for it.

Drawn ones (training curves, latent scatter, manifold grid) go to a folder the caller
chooses (a temporary one: the report embeds them). What a model cannot draw becomes a
note, never an exception. A saved picture is read within bounds (`read_picture`): a run
folder may come from someone else, and a file that claims billions of pixels, a link, a
device or a pipe in place of a PNG is skipped with a note, unread.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image

from vaelab.data import ImageDataset, load_dataset
from vaelab.errors import CapabilityError, VaelabError
from vaelab.plots.curves import save_training_curves
from vaelab.plots.grid import MAX_PICTURE_PIXELS
from vaelab.plots.latent_space import latent_points, save_latent_scatter
from vaelab.plots.manifold import manifold_axis, save_manifold_grid
from vaelab.report.summary import RunSummary

try:
    NO_FOLLOW = os.O_NOFOLLOW | os.O_NONBLOCK  # a link is refused, and a pipe cannot hold the open
except AttributeError:  # not POSIX: the lstat check alone
    NO_FOLLOW = 0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# No PNG of at most MAX_PICTURE_PIXELS is larger than its pixels uncompressed (8-bit RGBA), plus its chunks.
MAX_PICTURE_BYTES = 4 * MAX_PICTURE_PIXELS + (1 << 20)

# The pictures `vaelab train` and the CLI save, first and in this order; any other PNG follows.
SAVED = {
    "reconstructions.png": "odd rows: held-out images; the row below each: their reconstructions",
    "samples.png": "images decoded from draws of the prior (one row per class for conditional models)",
    "samples_*.png": "images decoded from draws of the prior",
    "interpolate_*.png": "first and last: two images; between them: decoded points on a path between their codes",
    "traverse_*.png": "one row per latent dimension (largest KL first), that dimension swept, the others fixed",
}


@dataclass
class Picture:
    title: str
    path: Path
    caption: str = ""


class Unshown(Exception):
    """A picture the report skips; the message says why (it follows the picture's title)."""


def read_picture(path: Path) -> tuple[bytes, int]:
    """(the bytes, the width in pixels) of the picture at `path`, read within bounds: a plain
    file (not a link, a device or a pipe) of at most MAX_PICTURE_BYTES whose header claims at
    most MAX_PICTURE_PIXELS (checked before anything else is read), that Pillow opens.
    Unshown otherwise, saying why."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise Unshown("is a link, and a report shows only the run folder's own files")
        fd = os.open(path, os.O_RDONLY | NO_FOLLOW)
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise Unshown("is not a plain file")
            if info.st_size > MAX_PICTURE_BYTES:
                raise Unshown(f"is {info.st_size:,} bytes, over the {MAX_PICTURE_BYTES:,} a report embeds")
            _check_png_size(f.read(24))
            f.seek(0)
            data = f.read(MAX_PICTURE_BYTES + 1)
    except OSError as e:
        raise Unshown(str(e)) from None
    if len(data) > MAX_PICTURE_BYTES:  # it grew since fstat
        raise Unshown(f"is over the {MAX_PICTURE_BYTES:,} bytes a report embeds")
    return data, _width(data)


def _check_png_size(head: bytes) -> None:
    """Unshown when the PNG header `head` (its first 24 bytes) claims more than MAX_PICTURE_PIXELS."""
    if head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR" and len(head) == 24:
        width, height = struct.unpack(">II", head[16:24])
        if width * height > MAX_PICTURE_PIXELS:
            raise Unshown(f"its header claims {width:,} x {height:,} pixels, over the {MAX_PICTURE_PIXELS:,} "
                          f"a report shows: skipped unread")


def _width(data: bytes) -> int:
    """The width of the picture in `data`, read from its header by Pillow (nothing decoded); Unshown when Pillow cannot."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise Unshown(f"skipped: {e}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:  # not a picture Pillow knows, or cut short
        raise Unshown(str(e)) from None
    if width * height > MAX_PICTURE_PIXELS:
        raise Unshown(f"it claims {width:,} x {height:,} pixels, over the {MAX_PICTURE_PIXELS:,} a report shows: skipped")
    return width


def saved_pictures(run: Path) -> list[Picture]:
    """The PNGs in the run folder: the usual ones (SAVED) first, then the others by name."""
    pictures: dict[Path, Picture] = {}
    for pattern in (*SAVED, "*.png"):
        for path in sorted(Path(run).glob(pattern)):
            pictures.setdefault(path, Picture(path.name, path, SAVED.get(pattern, "")))
    return list(pictures.values())


def held_out(s: RunSummary) -> tuple[ImageDataset, str]:
    """The run's held-out images (its training images when none were held out), and which.

    Never downloads: a report reads what is on disk (DataError otherwise).
    """
    return load_dataset(replace(s.cfg.data, download=False)).held_out_or_train()


def drawn_pictures(s: RunSummary, folder: Path) -> tuple[list[Picture], list[str]]:
    """(pictures drawn into `folder`, notes on those that could not be drawn)."""
    pictures, notes = [], []
    if s.records:
        path = save_training_curves(s.records, folder / "curves.png")
        pictures.append(Picture("training curves", path, "each loss term against the epoch, training and held-out data"))
    if s.model is None:
        return pictures, notes  # the summary's notes say why
    model = s.model
    try:
        data, which = held_out(s)
        codes, labels = latent_points(model, data)
        path = save_latent_scatter(codes, labels, folder / "latent.png", data.class_names)
        caption = f"codes of {len(codes)} {which} images (posterior means for VAEs), coloured by class"
        if model.conditional:
            caption += "; a conditional model's code leaves out what the label says, so classes are expected to mix"
        pictures.append(Picture("latent space", path, caption))
    except (VaelabError, OSError) as e:
        notes.append(f"no latent scatter: {e}")
    try:
        path = save_manifold_grid(model, folder / "manifold.png")
    except CapabilityError as e:
        notes.append(f"no manifold grid: {e}")
        return pictures, notes
    lo, hi = manifold_axis()[[0, -1]].tolist()
    caption = (f"decoded z on a grid of the prior's 5% to 95% quantiles: z1 from {lo:.2f} (left) to "
               f"{hi:.2f} (right), z2 from {hi:.2f} (top) to {lo:.2f} (bottom)")
    if model.conditional:
        caption += ", all of class 0"
    pictures.append(Picture("learned manifold", path, caption))
    return pictures, notes
