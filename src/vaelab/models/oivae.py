"""The output-interpretable VAE (oi-VAE, Ainsworth et al., 2018): one generator per group of
observed variables, all fed by one shared latent z, each through a group-specific first
layer whose columns are switched on or off by a group lasso.

    z ~ N(0, I_K)                        one latent for the whole observation
    x^(g) | z ~ p(x^(g) | f_g(W^(g) z))   group g's generator, W^(g): [H, K] (its first layer)
    penalty = lambda * sum_g sum_k ||W^(g)[:, k]||_2

||W^(g)[:, k]|| is how much latent dimension k can reach group g. The penalty is not in
the loss's gradient: after each optimizer step a proximal step shrinks every column,

    W^(g)[:, k] <- W^(g)[:, k] * max(0, 1 - lr * lambda / ||W^(g)[:, k]||)

which sets whole columns exactly to zero (the proximal operator of the group lasso), so
the latent x group matrix of norms (`latent_group_norms`, drawn by `vaelab plot` as a
heatmap) is sparse and says which latent dimensions each group depends on. The loss is
the -ELBO (nats per example); the penalty's value is logged as `lasso`. With plain SGD
this is proximal gradient descent on -ELBO + penalty; vaelab's optimizers are Adam and
AdamW, whose steps are normalised per coordinate, so lr * lambda is the shrink per step
rather than the penalty's exact weight against the loss in nats: read lambda as "how fast
unused connections die", and compare values of it at the same lr.

Groups (`model.groups`): `patches` (square patches of `patch_size` pixels, all channels),
`channels` (one group per channel), or `columns` (consecutive runs of the flattened data
of `group_sizes`, for tabular data stored as [N, 1, 1, D]).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from vaelab.config import at_least, each_at_least, one_of
from vaelab.errors import ConfigError
from vaelab.models.base import GroupedOutputs, LossOutput, Proximal
from vaelab.models.vae import VAE, VAEConfig


@dataclass
class OIVAEConfig(VAEConfig):
    name: str = "oi-vae"
    groups: str = one_of("patches", "channels", "columns", default="patches")
    patch_size: int = at_least(1, default=7)  # patches: the side of a square patch (it must divide the image)
    group_sizes: Optional[list[int]] = each_at_least(1, default=None)  # columns: the size of each group, summing to C*H*W
    group_hidden: int = at_least(1, default=64)  # width of each group's generator
    lasso: float = at_least(0, default=1.0)  # lambda of the group lasso on the first layers
    takes_iwae_and_priors = False  # a plain ELBO against N(0, I); the group lasso is its own
    takes_sharpness = False  # its forward builds its own loss (sharpening: vae, beta-vae, cvae, vqvae, vqvae2)


def group_index(cfg: OIVAEConfig, shape: tuple[int, int, int]) -> list[Tensor]:
    """The flat positions (in C*H*W order) of each group's variables, int64 each."""
    c, h, w = shape
    flat = torch.arange(c * h * w).view(c, h, w)
    if cfg.groups == "channels":
        return [flat[i].flatten() for i in range(c)]
    if cfg.groups == "columns":
        if not cfg.group_sizes:
            raise ConfigError("model.groups=columns needs model.group_sizes (the size of each group)")
        if sum(cfg.group_sizes) != c * h * w:
            raise ConfigError(f"model.group_sizes must sum to the data's {c * h * w} values, got {sum(cfg.group_sizes)}")
        return list(flat.flatten().split(list(cfg.group_sizes)))
    p = cfg.patch_size
    if h % p or w % p:
        raise ConfigError(f"model.patch_size={p} must divide the image's {h}x{w} pixels")
    return [flat[:, i:i + p, j:j + p].flatten() for i in range(0, h, p) for j in range(0, w, p)]


class GroupGenerator(nn.Module):
    """z [B, K] -> group g's likelihood parameters [B, size]: W^(g) z (no bias, the lasso's
    layer), then ReLU MLP layers of `hidden`."""

    def __init__(self, latent_dim: int, hidden: int, size: int):
        super().__init__()
        self.first = nn.Linear(latent_dim, hidden, bias=False)  # W^(g): [hidden, K]
        self.rest = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, size))

    def forward(self, z: Tensor) -> Tensor:
        return self.rest(self.first(z))


class OIVAE(VAE, GroupedOutputs, Proximal):
    """A VAE (the shared encoder, N(0, I) prior) whose decoder is one GroupGenerator per group."""

    name = "oi-vae"

    def __init__(self, config: OIVAEConfig, data_shape: tuple[int, int, int], num_classes: int | None = None,
                 *, encoder: nn.Module | None = None, decoder: nn.Module | None = None):
        # its decoder is the per-group generators below: your own encoder only (a decoder is refused)
        super().__init__(config, data_shape, num_classes, encoder=encoder, decoder=decoder, takes_decoder=False)
        index = group_index(config, self.data_shape)
        for g, positions in enumerate(index):
            self.register_buffer(f"group_positions_{g}", positions, persistent=False)
        self.num_groups = len(index)
        side = config.patch_size
        self.group_grid = (self.data_shape[1] // side, self.data_shape[2] // side) if config.groups == "patches" else None
        self.generators = nn.ModuleList(GroupGenerator(config.latent_dim, config.group_hidden, len(i)) for i in index)

    def positions(self) -> list[Tensor]:
        return [self.get_buffer(f"group_positions_{g}") for g in range(self.num_groups)]

    def decoder_output(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z [B, K] -> the likelihood's parameters [B, C, H, W], each group's from its own generator."""
        out = z.new_empty(len(z), math.prod(self.data_shape))
        for generator, positions in zip(self.generators, self.positions()):
            out[:, positions] = generator(z).to(out.dtype)
        return out.view(len(z), *self.data_shape)

    def latent_group_norms(self) -> Tensor:
        """||W^(g)[:, k]||_2 for every latent k and group g: [K, G] (detached)."""
        return torch.stack([gen.first.weight.detach().norm(dim=0) for gen in self.generators], dim=1)

    def forward(self, x: Tensor, y: Tensor | None = None) -> LossOutput:
        out = super().forward(x, y)
        lasso = self.config.lasso * self.latent_group_norms().sum()
        return LossOutput(out.loss, {**out.terms, "lasso": lasso})

    @torch.no_grad()
    def proximal_step(self, lr: float) -> None:
        """The group lasso's proximal operator at step size lr, column by column."""
        threshold = lr * self.config.lasso
        for gen in self.generators:
            w = gen.first.weight  # [H, K]
            norms = w.norm(dim=0, keepdim=True)  # [1, K]
            w.mul_((1 - threshold / norms.clamp(min=1e-12)).clamp(min=0))
