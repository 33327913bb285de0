"""The pictures of a run: reconstructions beside inputs, prior samples, latent paths.

Each function checks what it is asked for (counts, indices, the output path, the size of
the picture) before it runs the model, and raises ConfigError when it cannot be drawn.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from vaelab.data import ImageDataset, to_float
from vaelab.errors import CapabilityError, ConfigError
from vaelab.models.base import GenerativeModel, LatentVectorModel, require
from vaelab.models.interpolation import interpolate
from vaelab.models.traversal import dimension_activity, traverse
from vaelab.plots.grid import check_grid_size, check_picture_path, save_grid

PER_ROW = 8  # images per row of the reconstruction and sample pictures
SCALE = 2  # the pictures of a run are enlarged twice


def _labels(model: GenerativeModel, data: ImageDataset, index) -> torch.Tensor | None:
    """The labels a conditional model needs (None for the others)."""
    return data.labels[index] if model.conditional and data.labels is not None else None


def _check_at_least(value: int, low: int, what: str) -> None:
    if value < low:
        raise ConfigError(f"{what} must be at least {low}, got {value}")


def _check_index(index: int, data: ImageDataset) -> None:
    if not 0 <= index < len(data):
        raise ConfigError(f"image index {index} out of range: the dataset has {len(data)} images")


def _blank_to(images: torch.Tensor, count: int) -> torch.Tensor:
    """`images` followed by white images up to `count`."""
    blank = images.new_ones((count - len(images), *images.shape[1:]))
    return torch.cat([images, blank])


@torch.inference_mode()
def reconstruction_pairs(model: GenerativeModel, images: torch.Tensor, labels=None, per_row: int = PER_ROW) -> torch.Tensor:
    """[N, C, H, W] -> [2 * per_row * ceil(N / per_row), C, H, W]: rows of `per_row` inputs, each
    followed by a row of their reconstructions; a last short row is filled with white images,
    so that each reconstruction sits under its input in a grid of `per_row` columns."""
    labels = None if labels is None else labels.to(model.device)
    recon = model.reconstruct(images.to(model.device), labels).cpu()
    rows = []
    for start in range(0, len(images), per_row):
        rows += [_blank_to(t[start : start + per_row], per_row) for t in (images, recon)]
    return torch.cat(rows)


def save_reconstructions(model: GenerativeModel, data: ImageDataset, path: Path, n: int = 32) -> Path:
    """First `n` images of `data` (all when fewer; odd rows) above their reconstructions (even rows)."""
    _check_at_least(n, 1, "the number of images")
    path = check_picture_path(path)
    n = min(n, len(data))
    check_grid_size(2 * PER_ROW * math.ceil(n / PER_ROW), data.shape, PER_ROW, SCALE, path)
    index = slice(0, n)
    pairs = reconstruction_pairs(model, to_float(data.images[index]), _labels(model, data, index))
    return save_grid(pairs, path, nrow=PER_ROW, scale=SCALE)


def _check_label(model: GenerativeModel, label: int) -> None:
    if not model.conditional:
        raise CapabilityError(f"model {model.name!r} is not conditional: it cannot sample a given label")
    if not 0 <= label < model.num_classes:
        raise ConfigError(f"label {label} out of range: the model has classes 0..{model.num_classes - 1}")


@torch.inference_mode()
def save_samples(model: GenerativeModel, path: Path, n: int = 64, seed: int = 0, label: int | str | None = None) -> Path:
    """About n prior samples. `label` (conditional models): a class index, or 'all' (their
    default) for one row per class with n // classes samples each (at least 1); otherwise
    rows of 8."""
    _check_at_least(n, 1, "the number of samples")
    path = check_picture_path(path)
    if label is None and model.conditional:
        label = "all"
    if label == "all":
        if not model.conditional:
            raise CapabilityError(f"model {model.name!r} is not conditional: it has no classes to sample")
        per_class = max(1, n // model.num_classes)
        labels = torch.arange(model.num_classes).repeat_interleave(per_class)
        nrow = per_class
    else:
        if label is not None:
            _check_label(model, int(label))
        labels, nrow = (None if label is None else torch.full((n,), int(label))), PER_ROW
    count = n if labels is None else len(labels)
    check_grid_size(count, model.data_shape, nrow, SCALE, path)
    generator = torch.Generator().manual_seed(seed)
    return save_grid(model.sample(count, generator, labels), path, nrow=nrow, scale=SCALE)


def save_interpolation(model, data: ImageDataset, start: int, end: int, path: Path, steps: int = 10, method: str = "slerp") -> Path:
    """One row: image `start`, the decoded path of `steps` (>= 2) points, image `end`."""
    _check_at_least(steps, 2, "the number of steps")
    path = check_picture_path(path)
    for index in (start, end):
        _check_index(index, data)
    check_grid_size(steps + 2, data.shape, steps + 2, SCALE, path)
    x = to_float(data.images[[start, end]])
    y = _labels(model, data, start)
    path_images = interpolate(model, x[0], x[1], steps, method, y).cpu()
    return save_grid(torch.cat([x[:1], path_images, x[1:]]), path, nrow=steps + 2, scale=SCALE)


def save_traversal(model, data: ImageDataset, index: int, path: Path, span: float = 3.0, steps: int = 9, n_kl: int = 500) -> Path:
    """Rows = latent dimensions sorted by KL (largest first, estimated on `n_kl` images; by
    the variance of the codes for a plain AE), columns = that dimension swept over
    [-span, span] (span finite and > 0) in `steps` (>= 2) points, the others at image
    `index`'s mean."""
    require(model, LatentVectorModel, "a latent traversal")
    _check_at_least(steps, 2, "the number of steps")
    if not (math.isfinite(span) and span > 0):
        raise ConfigError(f"the span of a traversal must be a finite number above 0, got {span}")
    path = check_picture_path(path)
    _check_index(index, data)
    check_grid_size(model.latent_dim * steps, data.shape, steps, SCALE, path)
    x = to_float(data.images[:n_kl])
    activity = dimension_activity(model, x, _labels(model, data, slice(0, n_kl)))
    dims = activity.argsort(descending=True).tolist()
    grid = traverse(model, to_float(data.images[index]), dims, torch.linspace(-span, span, steps), _labels(model, data, index))
    return save_grid(grid.flatten(0, 1).cpu(), path, nrow=steps, scale=SCALE)


def save_run_pictures(model: GenerativeModel, data: ImageDataset, run_dir: Path) -> list[Path]:
    """reconstructions.png and (for models with a prior) samples.png in `run_dir`."""
    model.eval()
    paths = [save_reconstructions(model, data, Path(run_dir) / "reconstructions.png")]
    if model.can_sample:  # a plain autoencoder has no prior: nothing to draw
        paths.append(save_samples(model, Path(run_dir) / "samples.png"))
    return paths
