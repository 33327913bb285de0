"""Improved precision and recall (Kynkaanniemi et al., 2019), on classifier features.

Each set of feature vectors defines a manifold: the union of balls centred on its
points, each with radius the distance to that point's k-th nearest neighbour in its own
set. Then

    precision = fraction of generated points inside the real manifold   (fidelity),
    recall    = fraction of real points inside the generated manifold   (coverage).
"""

from __future__ import annotations

import torch
from torch import Tensor

from vaelab.errors import ConfigError


def knn_radii(feats: Tensor, k: int = 3, chunk: int = 1024) -> Tensor:
    """Distance from each point to its k-th nearest other point of the same set, [N].

    Rows are compared with the whole set `chunk` at a time (memory: chunk x N
    distances). The point itself (distance 0) is the first neighbour and is skipped.
    """
    if not 1 <= k < len(feats):
        raise ConfigError(f"k-nearest-neighbour radii need 1 <= k < number of points, "
                          f"got k={k} for {len(feats)} points.")
    radii = [torch.cdist(rows, feats).topk(k + 1, dim=1, largest=False).values[:, k] for rows in feats.split(chunk)]
    return torch.cat(radii)


def inside_manifold(queries: Tensor, points: Tensor, radii: Tensor, chunk: int = 1024) -> Tensor:
    """For each query [M, F], whether it lies within radii[j] of some point j [N, F]: bool [M]."""
    return torch.cat([(torch.cdist(rows, points) <= radii).any(dim=1) for rows in queries.split(chunk)])


def precision_recall(real: Tensor, generated: Tensor, k: int = 3, chunk: int = 1024) -> tuple[float, float]:
    """(precision, recall) of generated features [M, F] against real features [N, F].

    Float32 distances by torch.cdist; compare models with the same N, M and k (both
    numbers depend on them). Kynkaanniemi et al. use k = 3 and N = M = 50k; a few
    thousand points per set already rank models.
    """
    if real.dim() != 2 or generated.dim() != 2 or real.shape[1] != generated.shape[1]:
        raise ConfigError(f"features must be [N, F] and [M, F] with the same F, got "
                          f"{list(real.shape)} and {list(generated.shape)}.")
    real, generated = real.float(), generated.float()
    precision = inside_manifold(generated, real, knn_radii(real, k, chunk), chunk)
    recall = inside_manifold(real, generated, knn_radii(generated, k, chunk), chunk)
    return float(precision.float().mean()), float(recall.float().mean())
