"""A procedurally generated dSprites-style dataset: binary images of one white shape.

Five independent factors, indices drawn uniformly at random:

    shape        3   square, ellipse, heart
    scale        6   0.5 .. 1, linearly
    orientation 40   k * 2*pi / 40, radians, in [0, 2*pi)
    pos_x       32   0 .. 1 (left .. right: image column)
    pos_y       32   0 .. 1 (top .. bottom: image row)

Geometry is defined in image units, where the image spans [0, 1] in x and y whatever
its size in pixels, and each pixel is tested at its centre ((j + 0.5) / S). So the same
factors give the same picture at every resolution. A position p in [0, 1] puts the
shape's centre at 0.2 + 0.6 * p: the largest shape (at most 0.184 from its centre at
scale 1, any orientation: the square's half diagonal) always stays inside the frame with
a margin of 1/64 (one pixel at 64 px). At scale 1 the square's side is 0.26 of the image
(17 px of 64). Orientation rotates the shape clockwise on screen (y points down).
Like in dSprites, symmetric shapes repeat over orientations (the square every 90 deg).
"""

from __future__ import annotations

import math

import torch

from vaelab.data.dataset import ImageDataset
from vaelab.errors import ConfigError

FACTOR_NAMES = ["shape", "scale", "orientation", "pos_x", "pos_y"]
FACTOR_SIZES = [3, 6, 40, 32, 32]
SHAPE_NAMES = ["square", "ellipse", "heart"]

HALF_SIZE = 0.13  # half the square's side at scale 1, in image units
POS_LOW, POS_HIGH = 0.2, 0.8  # range of shape centres, in image units
HEART_CENTROID_Y = 0.2935  # centroid of the heart curve's inside (it is symmetric in x)
CHUNK_PIXELS = 1 << 22  # pixels rendered at once: bounds memory to a few 16 MB tensors


def factor_values(factors: torch.Tensor) -> torch.Tensor:
    """Factor indices int64 [N, 5] -> physical values float32 [N, 5].

    Columns: shape index (0, 1, 2), scale in [0.5, 1], orientation in radians,
    pos_x in [0, 1], pos_y in [0, 1].
    """
    f = factors.to(torch.float32)
    return torch.stack([
        f[:, 0],
        0.5 + 0.5 * f[:, 1] / (FACTOR_SIZES[1] - 1),
        f[:, 2] * (2 * math.pi / FACTOR_SIZES[2]),
        f[:, 3] / (FACTOR_SIZES[3] - 1),
        f[:, 4] / (FACTOR_SIZES[4] - 1),
    ], dim=1)


def render_shapes(factors: torch.Tensor, image_size: int = 64) -> torch.Tensor:
    """Draw one shape per row of factor indices int64 [N, 5] -> uint8 [N, 1, S, S], 0 or 255."""
    if image_size < 16:
        raise ConfigError(f"shapes image size must be at least 16 pixels, got {image_size}.")
    sizes = torch.tensor(FACTOR_SIZES)
    if factors.dim() != 2 or factors.shape[1] != 5 or ((factors < 0) | (factors >= sizes)).any():
        raise ConfigError(f"factors must be int64 [N, 5] with column f in 0..FACTOR_SIZES[f]-1 "
                          f"({FACTOR_SIZES}); got shape {list(factors.shape)}.")
    values = factor_values(factors)
    centres = (torch.arange(image_size, dtype=torch.float32) + 0.5) / image_size
    images = torch.zeros(len(factors), 1, image_size, image_size, dtype=torch.uint8)
    chunk = max(1, CHUNK_PIXELS // image_size**2)
    # One pass per shape kind, so each pixel runs only its own shape's inside test.
    for kind, inside in enumerate((_square, _ellipse, _heart)):
        for index in (factors[:, 0] == kind).nonzero().squeeze(1).split(chunk):
            u, v = _shape_frame(values[index], centres)
            images[index, 0] = inside(u, v).to(torch.uint8) * 255
    return images


def make_shapes(num_samples: int, image_size: int = 64, seed: int = 0) -> ImageDataset:
    """`num_samples` images with factors drawn uniformly at random; labels = shape index.

    Deterministic for a given seed (its own torch.Generator; global RNG untouched).
    """
    if num_samples < 1:
        raise ConfigError(f"data.num_samples must be at least 1, got {num_samples}.")
    g = torch.Generator().manual_seed(seed)
    factors = torch.stack([torch.randint(n, (num_samples,), generator=g) for n in FACTOR_SIZES], dim=1)
    return ImageDataset(
        images=render_shapes(factors, image_size),
        labels=factors[:, 0].clone(),
        factors=factors,
        name="shapes",
        class_names=list(SHAPE_NAMES),
        factor_names=list(FACTOR_NAMES),
        factor_sizes=list(FACTOR_SIZES),
    )


def _shape_frame(values: torch.Tensor, centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel centres in each shape's own frame: float32 (u, v), each [n, S, S].

    Subtract the shape's centre, rotate by -orientation, divide by its half size, so the
    inside tests below are written once for a unit shape at the origin.
    """
    _, scale, theta, pos_x, pos_y = (c[:, None, None] for c in values.unbind(1))
    dx = centres[None, None, :] - (POS_LOW + (POS_HIGH - POS_LOW) * pos_x)  # [n, 1, S]: columns
    dy = centres[None, :, None] - (POS_LOW + (POS_HIGH - POS_LOW) * pos_y)  # [n, S, 1]: rows
    cos, sin, size = theta.cos(), theta.sin(), HALF_SIZE * scale
    return (cos * dx + sin * dy) / size, (cos * dy - sin * dx) / size


def _square(u, v):
    return (u.abs() <= 1) & (v.abs() <= 1)


def _ellipse(u, v):
    # Semi-axes 1.4 x 0.7: elongated 2:1 like dSprites' ellipse, about as wide as the square.
    return (u / 1.4) ** 2 + (v / 0.7) ** 2 <= 1


def _heart(u, v):
    # The implicit heart (x^2 + y^2 - 1)^3 <= x^2 y^3 has its lobes towards +y; image rows
    # grow downwards, so flip v to draw it upright, and shift it so its centroid is the centre.
    y = HEART_CENTROID_Y - v
    return (u * u + y * y - 1) ** 3 <= u * u * y**3
