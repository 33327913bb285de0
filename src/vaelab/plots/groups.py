"""The oi-VAE's picture: how strongly each latent dimension reaches each group of observed
variables (the norms of the group generators' first-layer columns), as a heatmap; when the
groups are image patches, also one small map per latent dimension laid out like the image."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from vaelab.files import atomic_write
from vaelab.models.base import GroupedOutputs, require


def save_group_heatmap(model, path: str | Path) -> Path:
    """latent x group weight norms [K, G] of an oi-VAE, as a PNG (and, for patch groups, K maps)."""
    require(model, GroupedOutputs, "the latent x group heatmap")
    norms = model.latent_group_norms().float().cpu()  # [K, G]
    k, g = norms.shape
    grid = model.group_grid
    fig = Figure(figsize=(max(4.0, 0.35 * g + 2), max(3.0, 0.3 * k + 1.5)) if grid is None else (max(8.0, 1.1 * k), 4.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(2, 1, 1) if grid else fig.add_subplot(1, 1, 1)
    image = ax.imshow(norms.numpy(), aspect="auto", cmap="viridis", interpolation="nearest")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # groups and latents are counted, not measured
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("group of observed variables")
    ax.set_ylabel("latent dimension")
    ax.set_title("||W(g)[:, k]||: how much latent k reaches group g")
    fig.colorbar(image, ax=ax)
    if grid:  # latent k's reach over the image, patch by patch, on one colour scale
        top = float(norms.max()) or 1.0
        for i in range(k):
            small = fig.add_subplot(2, k, k + i + 1)
            small.imshow(norms[i].view(*grid).numpy(), cmap="viridis", vmin=0, vmax=top, interpolation="nearest")
            small.set_title(f"z{i}", fontsize=8)
            small.set_xticks([])
            small.set_yticks([])
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))
    return path
