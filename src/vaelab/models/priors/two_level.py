"""The prior of a two-level code model (VQ-VAE-2, Razavi et al., 2019):

    p(top, bottom | y) = p(top | y) p(bottom | top, y)

two gated PixelCNNs, the bottom one conditioned on the whole top grid (context_codes, see
pixelcnn.py). Sampling draws the top grid, then the bottom grid given it, each with the
PixelCNN's incremental sampler.

A model hands its codes around as one tensor, so that batching, counting and scoring
stay those of one grid: the top grid's codes row by row, then the bottom grid's,
int64 [B, ht wt + hb wb] (`join_levels`, `split_levels`).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from vaelab.errors import ConfigError
from vaelab.models.base import CodePrior, LossOutput, Trainable
from vaelab.models.priors.pixelcnn import GatedPixelCNN, PixelCNNConfig

Grid = tuple[int, int]


def join_levels(top: Tensor, bottom: Tensor) -> Tensor:
    """top [B, ht, wt], bottom [B, hb, wb] -> int64 [B, ht wt + hb wb]."""
    return torch.cat([top.flatten(1), bottom.flatten(1)], dim=1)


def split_levels(codes: Tensor, top: Grid, bottom: Grid) -> tuple[Tensor, Tensor]:
    """The inverse of join_levels: [B, ht wt + hb wb] -> ([B, ht, wt], [B, hb, wb])."""
    n_top = top[0] * top[1]
    if codes.dim() != 2 or codes.shape[1] != n_top + bottom[0] * bottom[1]:
        raise ConfigError(f"two-level codes are [B, {n_top} + {bottom[0] * bottom[1]}] (a {top[0]}x{top[1]} top grid "
                          f"and a {bottom[0]}x{bottom[1]} bottom grid), got {list(codes.shape)}")
    return codes[:, :n_top].view(-1, *top), codes[:, n_top:].view(-1, *bottom)


class TwoLevelPrior(Trainable, CodePrior):
    """p(top | y) p(bottom | top, y) over joined code grids [B, ht wt + hb wb].

    Args:
        num_codes: K, the alphabet of both levels.
        top_grid, bottom_grid: (h, w) of each level.
        config: the PixelCNN of each level (the bottom one gets context_codes = K).
    """

    def __init__(self, num_codes: int, top_grid: Grid, bottom_grid: Grid, config: PixelCNNConfig):
        super().__init__()
        self.num_codes, self.num_classes = num_codes, config.num_classes
        self.config = config
        self.top_grid, self.bottom_grid = tuple(top_grid), tuple(bottom_grid)
        self.top = GatedPixelCNN(num_codes, config)
        self.bottom = GatedPixelCNN(num_codes, replace(config, context_codes=num_codes))

    def level_log_probs(self, codes: Tensor, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(log p(top | y), log p(bottom | top, y)), nats, [B] each."""
        top, bottom = split_levels(codes, self.top_grid, self.bottom_grid)
        return self.top.log_prob(top, labels), self.bottom.log_prob(bottom, labels, context=top)

    def log_prob(self, codes: Tensor, labels: Tensor | None = None) -> Tensor:
        """log p(top, bottom | y) in nats: [B, ht wt + hb wb] -> [B]."""
        top, bottom = self.level_log_probs(codes, labels)
        return top + bottom

    def forward(self, codes: Tensor, labels: Tensor | None = None) -> LossOutput:
        """-log p(codes), nats per image averaged over the batch, and each level's part."""
        top, bottom = self.level_log_probs(codes, labels)
        nll = -(top + bottom).mean()
        return LossOutput(nll, {"nll": nll.detach(), "nll_top": -top.mean().detach(), "nll_bottom": -bottom.mean().detach()})

    @torch.no_grad()
    def sample(self, n: int, shape: tuple[int, ...] | None = None, labels: Tensor | None = None,
               generator: torch.Generator | None = None, temperature: float = 1.0) -> Tensor:
        """n joined code grids [n, ht wt + hb wb]: the top grid, then the bottom grid given it.
        `shape`, if given, must be the joined length (ht wt + hb wb,)."""
        length = self.top_grid[0] * self.top_grid[1] + self.bottom_grid[0] * self.bottom_grid[1]
        if shape is not None and tuple(shape) != (length,):
            raise ConfigError(f"this prior draws joined codes of shape ({length},), not {tuple(shape)}")
        top = self.top.sample(n, self.top_grid, labels, generator, temperature)
        bottom = self.bottom.sample(n, self.bottom_grid, labels, generator, temperature, context=top)
        return join_levels(top, bottom)
