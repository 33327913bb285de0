"""Paths between two latent points."""

from __future__ import annotations

import torch
from torch import Tensor


def lerp(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """Straight line: z(t) = (1 - t) z0 + t z1 at `steps` evenly spaced t in [0, 1]. [D] -> [steps, D]."""
    t = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device)[:, None]
    return (1 - t) * z0 + t * z1


def slerp(z0: Tensor, z1: Tensor, steps: int) -> Tensor:
    """Spherical interpolation (Shoemake; White, 2016), [D] -> [steps, D].

    z(t) = sin((1-t) w)/sin(w) z0 + sin(t w)/sin(w) z1 with cos(w) = <z0, z1>/(|z0||z1|).
    Under a N(0, I) prior a straight line passes through the low-density region near the
    origin; this great-circle path keeps the norm constant when |z0| = |z1|.
    Falls back to lerp when z0 and z1 are (anti)parallel.
    """
    cos_w = torch.dot(z0, z1) / (z0.norm() * z1.norm()).clamp_min(1e-12)
    w = torch.arccos(cos_w.clamp(-1, 1))
    if torch.sin(w).abs() < 1e-6:
        return lerp(z0, z1, steps)
    t = torch.linspace(0, 1, steps, dtype=z0.dtype, device=z0.device)[:, None]
    return (torch.sin((1 - t) * w) * z0 + torch.sin(t * w) * z1) / torch.sin(w)


INTERPOLATIONS = {"linear": lerp, "slerp": slerp}


@torch.inference_mode()
def interpolate(model, x0: Tensor, x1: Tensor, steps: int = 10, method: str = "slerp", y: Tensor | None = None) -> Tensor:
    """Decoded path between two images in latent space: [C, H, W] x 2 -> [steps, C, H, W].

    Both ends are encoded to their latent points (posterior means); `method` is 'linear'
    or 'slerp'. A conditional model decodes the whole path with label `y` (a 0-d or [1] int64).
    """
    if method not in INTERPOLATIONS:
        raise ValueError(f"unknown interpolation {method!r}; use {' or '.join(INTERPOLATIONS)}")
    labels = None if y is None else torch.as_tensor(y).reshape(1).to(model.device)
    z0, z1 = model.encode(torch.stack([x0, x1]).to(model.device), None if labels is None else labels.expand(2))
    path = INTERPOLATIONS[method](z0.flatten(), z1.flatten(), steps).view(steps, *z0.shape)  # grids of vectors too
    return model.decode(path, None if labels is None else labels.expand(steps))
