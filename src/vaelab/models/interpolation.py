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
