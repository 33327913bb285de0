"""The latent space as a scatter: one point per image, coloured by its class.

Latents of more than two dimensions are projected to two: PCA by default (linear, so
distances along PC1 and PC2 are still latent distances), t-SNE on request when
scikit-learn is installed (keeps neighbourhoods, loses global distances).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from vaelab.data import ImageDataset
from vaelab.errors import CapabilityError, ConfigError
from vaelab.files import atomic_write
from vaelab.evaluation.latent_stats import posterior_means
from vaelab.models.base import LatentVectorModel, require

METHODS = ("auto", "direct", "pca", "tsne")


def latent_points(model, data: ImageDataset, n: int = 2000, batch_size: int = 500) -> tuple[Tensor, Tensor | None]:
    """The first `n` images of `data` -> (codes [n, D] float32 on the CPU, labels [n] or None).

    Codes are `model.encode(x, y)`: the posterior means of a VAE, the codes of an AE.
    Conditional models get each image's label, as they need it to encode.
    """
    require(model, LatentVectorModel, "a latent scatter")
    labels = None if data.labels is None else data.labels[:n]
    codes = posterior_means(model, data.images[:n], labels if model.conditional else None, batch_size)
    return codes.float(), labels


@dataclass
class Projection:
    """Points in the plane and what their axes are.

    xy: [N, 2]; xlabel, ylabel: e.g. "z1" or "PC1 (62% of variance)";
    method: the one used ("direct", "pca" or "tsne"); note: "" or why it is not the one asked for.
    """

    xy: np.ndarray
    xlabel: str
    ylabel: str
    method: str
    note: str = ""


def pca_axes(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """codes [N, D] (D >= 2) -> (their mean [D], the first two principal axes [2, D] (orthonormal
    rows), the share of the variance each explains [2]).

    Each axis is signed so that its largest loading is positive: the same codes always
    give the same picture (SVD alone leaves the sign of each axis arbitrary).
    """
    mean = codes.mean(0)
    _, s, vt = np.linalg.svd(codes - mean, full_matrices=False)
    axes = vt[:2] * np.sign(vt[:2, np.abs(vt[:2]).argmax(1)].diagonal())[:, None]
    variance = s**2
    return mean, axes, variance[:2] / max(variance.sum(), 1e-12)


def pca_2d(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """codes [N, D] (D >= 2) -> (points [N, 2] on the first two principal axes, explained variance ratio [2])."""
    mean, axes, ratio = pca_axes(codes)
    return (codes - mean) @ axes.T, ratio


def tsne_2d(codes: np.ndarray) -> np.ndarray:
    """codes [N, D] -> [N, 2] t-SNE embedding. Raises ImportError without scikit-learn."""
    from sklearn.manifold import TSNE  # optional dependency: imported only when asked for

    perplexity = min(30.0, max(2.0, (len(codes) - 1) / 3))  # t-SNE needs perplexity < N
    return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=0).fit_transform(codes)


def project_2d(codes: Tensor | np.ndarray, method: str = "auto") -> Projection:
    """codes [N, D] -> the 2-D points to draw (CapabilityError for codes of another shape).

    auto: the latents themselves when D == 2 (D == 1: z1 against 0), PCA otherwise;
    direct: the first two latents; pca; tsne (PCA, with a note, without scikit-learn).
    """
    if method not in METHODS:
        raise ConfigError(f"unknown projection {method!r}; use one of {', '.join(METHODS)}")
    codes = np.asarray(torch.as_tensor(codes).detach().cpu().double())
    if codes.ndim != 2:
        raise CapabilityError(f"a latent scatter needs one code vector per image, got codes of shape {codes.shape}")
    d = codes.shape[1]
    if d < 2:  # nothing to project: spread the points along one axis
        return Projection(np.c_[codes[:, 0], np.zeros(len(codes))], "z1", "(1-D latent)", "direct")
    if method == "direct" or (method == "auto" and d == 2):
        return Projection(codes[:, :2], "z1", "z2", "direct")
    note = ""
    if method == "tsne":
        try:
            return Projection(tsne_2d(codes), "t-SNE 1", "t-SNE 2", "tsne")
        except ImportError:
            note = "t-SNE needs scikit-learn, not installed: PCA instead"
    xy, ratio = pca_2d(codes)
    return Projection(xy, f"PC1 ({ratio[0]:.0%} of variance)", f"PC2 ({ratio[1]:.0%} of variance)", "pca", note)


def save_latent_scatter(
    codes: Tensor | np.ndarray,
    labels: Tensor | np.ndarray | None,
    path: str | Path,
    class_names: list[str] | None = None,
    method: str = "auto",
) -> Path:
    """Scatter of codes [N, D], coloured by labels [N] (int class indices) when given, as a PNG.

    Up to 20 classes get distinct colours and a legend with `class_names`; more get a
    colour scale. The axis labels say what the axes are (see `project_2d`); they are also
    written into the PNG's "Description" text field.
    """
    p = project_2d(codes, method)
    fig = Figure(figsize=(6.4, 5.6))
    FigureCanvasAgg(fig)  # render with Agg whatever pyplot's backend is
    ax = fig.add_subplot()
    style = dict(s=6, alpha=0.7, linewidths=0)
    if labels is None:
        ax.scatter(p.xy[:, 0], p.xy[:, 1], color="tab:blue", **style)
    else:
        labels = np.asarray(torch.as_tensor(labels).cpu())
        classes = np.unique(labels)
        if len(classes) <= 20:
            colours = matplotlib.colormaps["tab10" if len(classes) <= 10 else "tab20"]
            for i, k in enumerate(classes):
                name = class_names[k] if class_names is not None and k < len(class_names) else str(k)
                ax.scatter(*p.xy[labels == k].T, color=colours(i), label=name, **style)
            ax.legend(markerscale=3, fontsize="small", loc="best", title="class")
        else:
            points = ax.scatter(p.xy[:, 0], p.xy[:, 1], c=labels, cmap="viridis", **style)
            fig.colorbar(points, ax=ax, label="class")
    ax.set_xlabel(p.xlabel)
    ax.set_ylabel(p.ylabel)
    how = {"direct": "", "pca": ", PCA", "tsne": ", t-SNE"}[p.method]
    ax.set_title(f"Latent space: {len(p.xy)} codes, {codes.shape[1]}-D{how}" + (f"\n({p.note})" if p.note else ""))
    fig.tight_layout()
    path = Path(path)
    description = {"Description": f"method={p.method}; x={p.xlabel}; y={p.ylabel}"}
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix[1:] or "png", dpi=100, metadata=description))
    return path
