"""The pictures every run folder gets: reconstructions beside inputs, and prior samples."""

from __future__ import annotations

from pathlib import Path

import torch

from vaelab.data import ImageDataset, to_float
from vaelab.errors import CapabilityError
from vaelab.models import GenerativeModel
from vaelab.plots.grid import save_grid


@torch.no_grad()
def reconstruction_pairs(model: GenerativeModel, images: torch.Tensor, per_row: int = 8) -> torch.Tensor:
    """[N, C, H, W] -> [2N, C, H, W]: rows of `per_row` inputs, each followed by a row of their reconstructions."""
    recon = model.reconstruct(images.to(model.device)).cpu()
    rows = []
    for start in range(0, len(images), per_row):
        rows += [images[start : start + per_row], recon[start : start + per_row]]
    return torch.cat(rows)


def save_reconstructions(model: GenerativeModel, data: ImageDataset, path: Path, n: int = 32) -> Path:
    """First `n` images of `data` (odd rows) above their reconstructions (even rows)."""
    images = to_float(data.images[:n])
    return save_grid(reconstruction_pairs(model, images), path, nrow=8, scale=2)


@torch.no_grad()
def save_samples(model: GenerativeModel, path: Path, n: int = 64, seed: int = 0) -> Path:
    generator = torch.Generator().manual_seed(seed)
    return save_grid(model.sample(n, generator=generator), path, nrow=8, scale=2)


def save_run_pictures(model: GenerativeModel, data: ImageDataset, run_dir: Path) -> list[Path]:
    """reconstructions.png and (for models with a prior) samples.png in `run_dir`."""
    model.eval()
    paths = [save_reconstructions(model, data, Path(run_dir) / "reconstructions.png")]
    try:
        paths.append(save_samples(model, Path(run_dir) / "samples.png"))
    except CapabilityError:
        pass  # a plain autoencoder has no prior: nothing to draw
    return paths
