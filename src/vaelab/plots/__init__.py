"""Pictures: image grids and strips written as PNG."""

from vaelab.plots.grid import image_grid, save_grid

__all__ = ["image_grid", "save_grid"]
