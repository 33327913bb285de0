"""The pictures of a run in a report: those saved in its folder, and those drawn for it.

Drawn ones (training curves, latent scatter, manifold grid) go to a folder the caller
chooses (a temporary one: the report embeds them). What a model cannot draw becomes a
note, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from vaelab.data import ImageDataset, load_dataset
from vaelab.errors import CapabilityError, VaelabError
from vaelab.plots.curves import save_training_curves
from vaelab.plots.latent_space import latent_points, save_latent_scatter
from vaelab.plots.manifold import manifold_axis, save_manifold_grid
from vaelab.report.summary import RunSummary

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
