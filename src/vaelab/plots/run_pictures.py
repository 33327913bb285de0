"""The pictures of a run: reconstructions beside inputs, prior samples, latent paths."""

from __future__ import annotations

from pathlib import Path

import torch

from vaelab.data import ImageDataset, to_float
from vaelab.errors import CapabilityError
from vaelab.models.base import GenerativeModel, LatentVectorModel, require
from vaelab.models.interpolation import interpolate
from vaelab.models.traversal import dimension_activity, traverse
from vaelab.plots.grid import save_grid


def _labels(model: GenerativeModel, data: ImageDataset, index) -> torch.Tensor | None:
    """The labels a conditional model needs (None for the others)."""
    return data.labels[index] if model.conditional and data.labels is not None else None


@torch.no_grad()
def reconstruction_pairs(model: GenerativeModel, images: torch.Tensor, labels=None, per_row: int = 8) -> torch.Tensor:
    """[N, C, H, W] -> [2N, C, H, W]: rows of `per_row` inputs, each followed by a row of their reconstructions."""
    labels = None if labels is None else labels.to(model.device)
    recon = model.reconstruct(images.to(model.device), labels).cpu()
    rows = []
    for start in range(0, len(images), per_row):
        rows += [images[start : start + per_row], recon[start : start + per_row]]
    return torch.cat(rows)


def save_reconstructions(model: GenerativeModel, data: ImageDataset, path: Path, n: int = 32) -> Path:
    """First `n` images of `data` (odd rows) above their reconstructions (even rows)."""
    index = slice(0, n)
    pairs = reconstruction_pairs(model, to_float(data.images[index]), _labels(model, data, index))
    return save_grid(pairs, path, nrow=8, scale=2)


@torch.no_grad()
def save_samples(model: GenerativeModel, path: Path, n: int = 64, seed: int = 0, label: int | str | None = None) -> Path:
    """About n prior samples. `label` (conditional models): a class index, or 'all' (their
    default) for one row per class with n // classes samples each; otherwise rows of 8."""
    generator = torch.Generator().manual_seed(seed)
    if label is None and model.conditional:
        label = "all"
    if label == "all":
        if not model.conditional:
            raise CapabilityError(f"model {model.name!r} is not conditional: it has no classes to sample")
        per_class = max(1, n // model.num_classes)
        labels = torch.arange(model.num_classes).repeat_interleave(per_class)
        return save_grid(model.sample(len(labels), generator, labels), path, nrow=per_class, scale=2)
    labels = None if label is None else torch.full((n,), int(label))
    return save_grid(model.sample(n, generator, labels), path, nrow=8, scale=2)


def save_interpolation(model, data: ImageDataset, start: int, end: int, path: Path, steps: int = 10, method: str = "slerp") -> Path:
    """One row: image `start`, the decoded path, image `end`."""
    x = to_float(data.images[[start, end]])
    y = _labels(model, data, start)
    path_images = interpolate(model, x[0], x[1], steps, method, y).cpu()
    return save_grid(torch.cat([x[:1], path_images, x[1:]]), path, nrow=steps + 2, scale=2)


def save_traversal(model, data: ImageDataset, index: int, path: Path, span: float = 3.0, steps: int = 9, n_kl: int = 500) -> Path:
    """Rows = latent dimensions sorted by KL (largest first, estimated on `n_kl` images; by
    the variance of the codes for a plain AE), columns = that dimension swept over
    [-span, span], the others at image `index`'s mean."""
    require(model, LatentVectorModel, "a latent traversal")
    x = to_float(data.images[:n_kl])
    activity = dimension_activity(model, x, _labels(model, data, slice(0, n_kl)))
    dims = activity.argsort(descending=True).tolist()
    grid = traverse(model, to_float(data.images[index]), dims, torch.linspace(-span, span, steps), _labels(model, data, index))
    return save_grid(grid.flatten(0, 1).cpu(), path, nrow=steps, scale=2)


def save_run_pictures(model: GenerativeModel, data: ImageDataset, run_dir: Path) -> list[Path]:
    """reconstructions.png and (for models with a prior) samples.png in `run_dir`."""
    model.eval()
    paths = [save_reconstructions(model, data, Path(run_dir) / "reconstructions.png")]
    if model.can_sample:  # a plain autoencoder has no prior: nothing to draw
        paths.append(save_samples(model, Path(run_dir) / "samples.png"))
    return paths
