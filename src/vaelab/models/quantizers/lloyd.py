"""Scalar and vector quantization: nearest-code search, Lloyd-Max and LBG.

A quantizer maps x to the nearest of a few reconstruction points (levels, codewords).
The optimal one for a distribution satisfies two conditions, and Lloyd's algorithm
alternates them until neither changes anything:

    nearest neighbour:  each x goes to the closest point (cell boundaries lie halfway)
    centroid:           each point is the mean of the x in its cell

`lloyd_max` does this on the line, `lbg` (Linde, Buzo and Gray, 1980) for vectors,
growing the codebook by splitting. `squared_distances` and `nearest_code` are the
search the codebook quantizers (vq.py, ema.py) use.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
from torch import Tensor

from vaelab.errors import ConfigError


def _working_dtype(*xs: Tensor) -> torch.dtype:
    """float32, or float64 if an input is: half precision is too coarse for
    ||x||^2 - 2 x.e + ||e||^2, whose terms nearly cancel."""
    return functools.reduce(torch.promote_types, [x.dtype for x in xs], torch.float32)


def squared_distances(x: Tensor, codebook: Tensor) -> Tensor:
    """||x_i - e_k||^2 = ||x_i||^2 - 2 x_i.e_k + ||e_k||^2: x [N, D], codebook [K, D] -> [N, K].

    One matrix product instead of an [N, K, D] difference. Computed in float32 (float64 if
    an input is) even inside torch.autocast; clamped at 0, which rounding can undershoot.
    """
    with torch.autocast(x.device.type, enabled=False):
        dtype = _working_dtype(x, codebook)
        x, codebook = x.to(dtype), codebook.to(dtype)
        d = torch.addmm(codebook.pow(2).sum(1), x, codebook.T, alpha=-2)  # ||e||^2 - 2 x.e
        return (d + x.pow(2).sum(1, keepdim=True)).clamp_min(0)


@torch.no_grad()
def nearest_code(x: Tensor, codebook: Tensor, chunk_size: int = 8192) -> tuple[Tensor, Tensor]:
    """argmin_k ||x_i - e_k||^2 and its value: x [N, D], codebook [K, D] -> (int64 [N], float32 [N]).

    Rows of x are searched `chunk_size` at a time, so memory is O(chunk_size * K) however
    large N is. No gradients flow (callers use it to pick codes, not to train them). The
    distances are float64 for float64 inputs; ties go to the lowest index.
    """
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive number of rows, got {chunk_size}")
    dist, index = zip(*(squared_distances(part, codebook).min(1) for part in x.split(chunk_size)))
    return torch.cat(index), torch.cat(dist)


class LloydMax(NamedTuple):
    levels: Tensor  # [L], sorted
    boundaries: Tensor  # [L - 1], boundaries[i] separates levels[i] and levels[i + 1]
    distortion: float  # mean squared error on the design samples
    iterations: int


def quantize_scalar(x: Tensor, levels: Tensor, boundaries: Tensor) -> Tensor:
    """Each x (any shape) replaced by the level of its cell: cell i is (b[i-1], b[i]]."""
    return levels[torch.bucketize(x, boundaries)]


def lloyd_max(samples: Tensor, levels: int, iters: int = 100, tol: float = 1e-6) -> LloydMax:
    """Lloyd-Max scalar quantizer with `levels` levels, designed on samples (any shape, flattened).

        b_i = (y_i + y_{i+1}) / 2            (nearest neighbour)
        y_i = E[x | b_{i-1} < x <= b_i]      (centroid, over the samples)

    Starts from the quantiles (i + 1/2) / L of the samples and alternates the two until
    no level moves by `tol` or more, or `iters` updates.
    """
    x = samples.detach().flatten().to(_working_dtype(samples))
    if levels < 1 or len(x) == 0:
        raise ConfigError(f"lloyd_max needs levels >= 1 and some samples, got {levels} levels and {len(x)} samples")
    ranked = x.sort().values
    y = ranked[((torch.arange(levels, device=x.device) + 0.5) * len(x) / levels).long()]
    iterations = 0
    for iterations in range(1, iters + 1):
        cell = torch.bucketize(x, (y[1:] + y[:-1]) / 2)
        sums = torch.zeros_like(y).index_add_(0, cell, x)
        counts = torch.bincount(cell, minlength=levels)
        # An empty cell keeps its level: it still lies between its boundaries, so the
        # levels stay sorted (each cell's mean lies inside the cell too).
        new = torch.where(counts > 0, sums / counts.clamp_min(1), y)
        moved = (new - y).abs().max().item()
        y = new
        if moved < tol:
            break
    boundaries = (y[1:] + y[:-1]) / 2
    distortion = (x - quantize_scalar(x, y, boundaries)).pow(2).mean().item()
    return LloydMax(y, boundaries, distortion, iterations)


class LBG(NamedTuple):
    codebook: Tensor  # [k, D]
    assignments: Tensor  # [N], int64: the codeword of each x
    distortion: float  # mean over x of ||x - e||^2


def _lloyd(x: Tensor, codebook: Tensor, iters: int) -> tuple[Tensor, Tensor, Tensor]:
    """Generalised Lloyd iterations from `codebook`: (codebook, assignments, squared distances).

    Stops when the assignments repeat or the distortion improves by less than 1e-4
    (relative), never with an empty cell. The codebook returned is the one the
    assignments were made with, so at a fixed point it is also their centroids.
    """
    k = len(codebook)
    assign, dist = nearest_code(x, codebook)
    for _ in range(iters):
        counts = torch.bincount(assign, minlength=k)
        sums = torch.zeros_like(codebook).index_add_(0, assign, x)
        codebook = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], codebook)
        empty = (counts == 0).nonzero().flatten()
        if len(empty):  # re-seed each empty cell with one of the worst-represented points
            codebook[empty] = x[dist.topk(len(empty)).indices]
        new_assign, new_dist = nearest_code(x, codebook)
        before, after = dist.mean().item(), new_dist.mean().item()
        settled = torch.equal(new_assign, assign) or before - after <= 1e-4 * before
        assign, dist = new_assign, new_dist
        if settled and torch.bincount(assign, minlength=k).all():
            break
    return codebook, assign, dist


def lbg(x: Tensor, k: int, iters: int = 20, eps: float = 1e-2, generator: torch.Generator | None = None) -> LBG:
    """Linde-Buzo-Gray vector quantizer: a codebook of k codewords for x [N, D], N >= k.

    Start from the mean of x; then repeat: split codewords, run Lloyd iterations (at most
    `iters`) on all of them. Each round doubles the codebook; when k is not a power of
    two the last round splits only the cells with the largest total squared error.

    A codeword c splits into c + d and c - d with d = eps * std(x) * u, u ~ N(0, I) drawn
    from `generator`: scaled to the data per dimension (unlike c (1 +- eps), it also splits
    c = 0), and in a random direction, so no fixed direction can be one the cell's points
    are all equidistant along. An empty cell is re-seeded with the point farthest from its
    codeword, so with N >= k distinct points every codeword ends up used.
    """
    if x.dim() != 2 or k < 1 or len(x) < k:
        raise ConfigError(f"lbg needs x of shape [N, D] with N >= k >= 1, got {tuple(x.shape)} and k={k}")
    x = x.detach().to(_working_dtype(x))
    scale = eps * x.std(0, correction=0)
    codebook, assign, dist = _lloyd(x, x.mean(0, keepdim=True), iters)
    while len(codebook) < k:
        m = min(len(codebook), k - len(codebook))
        cell_error = torch.zeros(len(codebook), dtype=x.dtype, device=x.device).index_add_(0, assign, dist)
        split = cell_error.topk(m).indices
        d = scale * torch.randn(m, x.shape[1], generator=generator, dtype=x.dtype).to(x.device)
        codebook = torch.cat([codebook.index_add(0, split, d), codebook[split] - d])
        codebook, assign, dist = _lloyd(x, codebook, iters)
    distortion = (x - codebook[assign]).pow(2).sum(1).mean().item()  # exact, not the expanded form
    return LBG(codebook, assign, distortion)
