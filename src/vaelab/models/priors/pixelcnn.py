"""Gated PixelCNN (van den Oord et al., 2016): an autoregressive prior over grids of codes.

    p(c | y) = prod_i p(c_i | c_<i, y),   i in raster order (row by row, left to right)

for a grid c [H, W] of integers in [0, K), e.g. a VQ-VAE's latent codes, and an optional
class label y. The logits at position (i, j) must depend on the positions before it and
on nothing else. Two stacks of convolutions do this without the original PixelCNN's
blind spot (the positions up and to the right that masked 3x3 kernels never reach):

    vertical stack    v[i, j] sees rows <= i (all columns within its reach): a
                      (k//2 + 1) x k kernel over an input padded with k//2 rows on top.
                      It sees its own row, so it enters the horizontal stack only after a
                      shift down by one row: position (i, j) gets the link from v[i - 1, j].
    horizontal stack  h[i, j] sees row i up to column j: a 1 x (k//2 + 1) kernel over an
                      input padded with k//2 columns on the left. The first layer's input
                      is the embedded grid shifted right by one column, so position (i, j)
                      starts from (i, j - 1) and never sees its own code ("mask A"); later
                      layers include their own position's features ("mask B"), which
                      already exclude the code.

Each layer computes, for both stacks, tanh(W_f * x + b_f) * sigmoid(W_g * x + b_g), where
the biases b may depend on a class label y (a learned vector per class) and on a context
grid of codes c' (`context_codes`; VQ-VAE-2's bottom prior is conditioned on the top
codes; a residual quantizer's later stages on the earlier ones): c' is embedded (the
embeddings of several grids summed), resized (nearest) to the grid being modelled,
passed through two 3x3 convolutions, and each layer adds a 1x1 convolution of that map
to its biases, a different bias at every position. The context is given whole, so it
never breaks the raster order. The horizontal stack adds the link
shift_down(W_vh (W_v * v)) (W_vh a 1x1 convolution) to its pre-activation, and keeps a
residual connection after a 1x1 convolution. Two 1x1 convolutions turn the last
horizontal features into K logits per position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaelab.config import Section, at_least, odd_at_least
from vaelab.errors import ConfigError
from vaelab.models.base import CodePrior, LossOutput, Trainable, class_labels


@dataclass
class PixelCNNConfig(Section):
    key_prefix: ClassVar[str] = "pixelcnn."

    channels: int = at_least(1, default=64)  # feature maps in each stack
    layers: int = at_least(0, default=8)  # gated layers after the first (mask A) one
    kernel_size: int = odd_at_least(3, default=5)  # the vertical kernel is (k//2 + 1) x k, the horizontal 1 x (k//2 + 1)
    num_classes: Optional[int] = at_least(1, default=None)  # class-conditional prior when set
    embedding_dim: int = at_least(1, default=32)  # size of the learned embedding of each code
    context_codes: Optional[int] = at_least(2, default=None)  # alphabet of a context code grid (set by the model: VQ-VAE-2)


def shift_down(x: Tensor) -> Tensor:
    """[B, C, H, W]: row i takes row i - 1's values, row 0 zeros."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def shift_right(x: Tensor) -> Tensor:
    """[B, C, H, W]: column j takes column j - 1's values, column 0 zeros."""
    return F.pad(x, (1, 0))[..., :-1]


def gate(x: Tensor) -> Tensor:
    """tanh(a) * sigmoid(b) for x = [a, b] split along channels: [B, 2C, H, W] -> [B, C, H, W]."""
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


def at(bias: Tensor | float, row: int, col: int | None) -> Tensor | float:
    """A layer's bias where the sampler is: row `row` (and column `col`, unless None) of a
    per-position bias [B, 2C, H, W]; a per-class [B, 2C, 1, 1] or zero bias as it is."""
    if isinstance(bias, float) or bias.shape[-2:] == (1, 1):
        return bias
    bias = bias[:, :, row : row + 1]
    return bias if col is None else bias[..., col : col + 1]


class GatedLayer(nn.Module):
    """One gated layer of both stacks.

    Its two halves take their inputs with the context their kernels need above or to the
    left (zeros beyond the grid) and return outputs only where that context is complete:
    the whole grid, padded, when training; one new row or column when sampling.
    """

    def __init__(self, c_in: int, channels: int, kernel_size: int, residual: bool, num_classes: int | None,
                 context: bool = False):
        super().__init__()
        self.p, self.c_in, self.residual = kernel_size // 2, c_in, residual
        self.v_conv = nn.Conv2d(c_in, 2 * channels, (self.p + 1, kernel_size), padding=(0, self.p))
        self.h_conv = nn.Conv2d(c_in, 2 * channels, (1, self.p + 1))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)
        # one bias per class for the four gate inputs (f and g of each stack)
        self.class_bias = nn.Embedding(num_classes, 4 * channels) if num_classes else None
        # and, with a context grid, a bias per position from its features
        self.context_bias = nn.Conv2d(channels, 4 * channels, 1) if context else None

    def biases(self, labels: Tensor | None, context: Tensor | None) -> tuple[Tensor | float, Tensor | float]:
        """(vertical, horizontal) biases, each [B, 2C, 1, 1] (per class), [B, 2C, H, W] (with
        context features [B, C, H, W]), or zero."""
        bias: Tensor | float = 0.0
        if self.class_bias is not None:
            bias = self.class_bias(labels)[:, :, None, None]
        if self.context_bias is not None:
            bias = bias + self.context_bias(context)
        return (0.0, 0.0) if isinstance(bias, float) else bias.chunk(2, dim=1)

    def vertical(self, v: Tensor, bias: Tensor | float) -> tuple[Tensor, Tensor]:
        """v [B, c_in, p + R, W], R rows below p rows of context -> for the R rows:
        (next v [B, C, R, W], link [B, 2C, R, W] for the row below each)."""
        pre = self.v_conv(v) + bias
        return gate(pre), self.v_to_h(pre)

    def horizontal(self, h: Tensor, link: Tensor, bias: Tensor | float) -> Tensor:
        """h [B, c_in, R, p + S], S columns right of p columns of context, link [B, 2C, R, S]
        -> next h [B, C, R, S]."""
        out = self.h_out(gate(self.h_conv(h) + link + bias))
        return h[..., self.p :] + out if self.residual else out


class GatedPixelCNN(Trainable, CodePrior):
    """p(codes | labels) over grids [B, H, W] of integers in [0, num_codes), in raster order.

    A CodePrior (what a VQ-VAE samples through) and Trainable (the training loop fits it
    to a run's codes with forward(codes, labels) -> -log p(codes | labels))."""

    def __init__(self, num_codes: int, config: PixelCNNConfig | None = None):
        super().__init__()
        config = config or PixelCNNConfig()
        k = config.kernel_size
        if k < 3 or k % 2 == 0:
            raise ConfigError(f"pixelcnn kernel_size must be an odd number >= 3, got {k}")
        if num_codes < 2 or config.channels < 1 or config.layers < 0 or config.embedding_dim < 1:
            raise ConfigError("pixelcnn needs num_codes >= 2, channels >= 1, layers >= 0 and embedding_dim >= 1")
        if config.num_classes is not None and config.num_classes < 1:
            raise ConfigError(f"pixelcnn num_classes must be positive or None, got {config.num_classes}")
        self.config, self.num_codes, self.num_classes = config, num_codes, config.num_classes
        c, self.p = config.channels, k // 2
        self.embed = nn.Embedding(num_codes, config.embedding_dim)
        self.context_codes = config.context_codes
        self.layers = nn.ModuleList(
            GatedLayer(config.embedding_dim if i == 0 else c, c, k, residual=i > 0, num_classes=config.num_classes,
                       context=config.context_codes is not None)
            for i in range(config.layers + 1)
        )
        if config.context_codes is not None:
            self.context_embed = nn.Embedding(config.context_codes, config.embedding_dim)
            self.context_net = nn.Sequential(nn.Conv2d(config.embedding_dim, c, 3, padding=1), nn.ReLU(),
                                             nn.Conv2d(c, c, 3, padding=1))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 1), nn.ReLU(), nn.Conv2d(c, num_codes, 1))
        # The receptive field: each layer reaches k//2 rows further up (vertical stack) or
        # columns further left (horizontal), plus one for the shift down / right. Codes more
        # than `reach` rows above, or in the same row more than `reach` columns to the
        # left, do not change the logits.
        self.reach = (config.layers + 1) * self.p + 1

    def _embed(self, codes: Tensor) -> Tensor:
        return self.embed(codes).permute(0, 3, 1, 2)  # [B, H, W] -> [B, E, H, W]

    def _biases(self, labels: Tensor | None, context: Tensor | None, shape: tuple[int, int]) -> list:
        """Each layer's (vertical, horizontal) biases for a grid of `shape` (H, W)."""
        features = None if context is None else self._context_features(context, shape)
        return [layer.biases(labels, features) for layer in self.layers]

    def _context_features(self, context: Tensor, shape: tuple[int, int]) -> Tensor:
        """context codes int64 [B, h', w'], or several grids [B, S', h', w'] whose embeddings
        are summed -> features [B, C, H, W] on the modelled grid."""
        e = self.context_embed(context)  # (B, [S',] h', w', E)
        e = (e.sum(1) if context.dim() == 4 else e).permute(0, 3, 1, 2)  # (B, E, h', w')
        return self.context_net(F.interpolate(e, size=tuple(shape), mode="nearest"))  # (B, C, H, W)

    def _check_context(self, context: Tensor | None, n: int) -> Tensor | None:
        if self.context_codes is None:
            return None
        if context is None or context.dim() not in (3, 4) or len(context) != n or context.dtype != torch.long:
            raise ConfigError(f"this PixelCNN is conditioned on a grid of codes: pass context, int64 [{n}, h, w] "
                              f"(or [{n}, S, h, w])")
        if context.numel() and (context.min() < 0 or context.max() >= self.context_codes):
            raise ConfigError(f"context codes must lie in [0, {self.context_codes})")
        return context.to(self.embed.weight.device)

    def _check(self, codes: Tensor | None, labels: Tensor | None, n: int) -> Tensor | None:
        """The labels as int64 [n] on the model's device (None if unconditional); checks codes."""
        if codes is not None and (codes.dim() != 3 or codes.dtype != torch.long):
            raise ConfigError(f"codes must be an int64 grid [B, H, W], got {codes.dtype} {tuple(codes.shape)}")
        if codes is not None and codes.numel() and (codes.min() < 0 or codes.max() >= self.num_codes):
            raise ConfigError(f"codes must lie in [0, {self.num_codes})")
        if self.num_classes is None:
            return None  # unconditional models ignore labels, like the other models of vaelab
        if labels is None:
            raise ConfigError(f"this PixelCNN is class-conditional: pass labels, {n} class indices")
        return class_labels(labels, n, self.num_classes, self.embed.weight.device)

    def _logits(self, codes: Tensor, biases: list) -> Tensor:
        """The whole network on the whole grid: [B, H, W] -> [B, K, H, W]."""
        v = self._embed(codes)
        h = shift_right(v)
        for layer, (v_bias, h_bias) in zip(self.layers, biases):
            v, link = layer.vertical(F.pad(v, (0, 0, self.p, 0)), v_bias)
            h = layer.horizontal(F.pad(h, (self.p, 0)), shift_down(link), h_bias)
        return self.head(h)

    def logits(self, codes: Tensor, labels: Tensor | None = None, context: Tensor | None = None) -> Tensor:
        """codes int64 [B, H, W] (labels int64 [B], context int64 [B, h', w']) -> logits
        [B, K, H, W] of p(c_ij | c_<ij, labels, context)."""
        labels = self._check(codes, labels, len(codes))
        context = self._check_context(context, len(codes))
        return self._logits(codes, self._biases(labels, context, codes.shape[1:]))

    def log_prob(self, codes: Tensor, labels: Tensor | None = None, context: Tensor | None = None) -> Tensor:
        """log p(codes | labels, context) = sum_ij log p(c_ij | c_<ij, ...), in nats: [B, H, W] -> [B]."""
        nll = F.cross_entropy(self.logits(codes, labels, context).float(), codes, reduction="none")
        return -nll.sum((1, 2))

    def forward(self, codes: Tensor, labels: Tensor | None = None) -> LossOutput:
        """Loss -log p(codes), nats per grid averaged over the batch."""
        nll = -self.log_prob(codes, labels).mean()
        return LossOutput(loss=nll, terms={"nll": nll.detach()})

    # Sampling: one position at a time, in raster order.

    def _prepare(self, n: int, shape: tuple[int, int], labels: Tensor | None, temperature: float):
        if n < 1 or len(shape) != 2 or min(shape) < 1:
            raise ConfigError(f"sample needs n >= 1 and a grid shape (H, W) of positive sides, got {n}, {shape}")
        if not temperature > 0:
            raise ConfigError(f"temperature must be positive, got {temperature}")
        labels = self._check(None, labels, n)
        return torch.zeros(n, *shape, dtype=torch.long, device=self.embed.weight.device), labels

    def _sampling_biases(self, n, shape, labels, context, temperature):
        """(empty codes [n, H, W], every layer's biases) for a sampler; checks the arguments."""
        codes, labels = self._prepare(n, shape, labels, temperature)
        return codes, self._biases(labels, self._check_context(context, n), tuple(shape))

    @staticmethod
    def _draw(logits: Tensor, temperature: float, generator: torch.Generator | None) -> Tensor:
        """One code per row of logits [n, K] from softmax(logits / temperature): int64 [n]."""
        probs = F.softmax(logits.float() / temperature, dim=-1)
        if generator is not None and generator.device.type != probs.device.type:
            probs = probs.to(generator.device)  # e.g. a CUDA model sampled with vaelab's CPU generators
        return torch.multinomial(probs, 1, generator=generator).squeeze(1).to(logits.device)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        shape: tuple[int, int],
        labels: Tensor | None = None,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        context: Tensor | None = None,
    ) -> Tensor:
        """n grids [n, H, W] drawn from p(codes | labels, context), each feature computed once.

        A feature at (i, j) depends only on positions before it, so once computed it never
        changes. Each layer keeps the last p = k//2 rows of its vertical input and, within
        the current row, the last p columns of its horizontal input (zeros beyond the grid,
        as the padding). A new position runs every layer's horizontal half on one column,
        and a finished row runs every vertical half on one row, which yields the links
        into the next row. That is one pass of the network over the grid in all, where
        `sample_naive` makes H * W. Nothing is approximated: the logits are the full
        network's up to float rounding (~1e-7; convolutions over inputs of other sizes add
        in another order) and the draws come from the same generator in the same order, so
        the grids are those of `sample_naive`, unless a uniform number falls within that
        rounding of a category boundary.
        """
        codes, biases = self._sampling_biases(n, shape, labels, context, temperature)
        height, width, p = *shape, self.p
        like = self.embed.weight
        v_context = [like.new_zeros(n, layer.c_in, p, width) for layer in self.layers]
        links = [like.new_zeros(n, layer.v_to_h.out_channels, 1, width) for layer in self.layers]  # row 0: none
        for i in range(height):
            h_context = [like.new_zeros(n, layer.c_in, 1, p) for layer in self.layers]
            x = like.new_zeros(n, like.shape[1], 1, 1)  # the shifted input at (i, 0): nothing on its left
            for j in range(width):
                h = x
                for k, (layer, (_, h_bias)) in enumerate(zip(self.layers, biases)):
                    window = torch.cat([h_context[k], h], dim=3)
                    h_context[k] = window[..., 1:]
                    h = layer.horizontal(window, links[k][..., j : j + 1], at(h_bias, i, j))
                codes[:, i, j] = self._draw(self.head(h)[:, :, 0, 0], temperature, generator)
                x = self._embed(codes[:, i : i + 1, j : j + 1])
            if i + 1 < height:  # row i is complete: one more row of the vertical stack
                v = self._embed(codes[:, i : i + 1])
                for k, (layer, (v_bias, _)) in enumerate(zip(self.layers, biases)):
                    window = torch.cat([v_context[k], v], dim=2)
                    v_context[k] = window[:, :, 1:]
                    v, links[k] = layer.vertical(window, at(v_bias, i, None))
        return codes

    @torch.no_grad()
    def sample_naive(self, n: int, shape: tuple[int, int], labels: Tensor | None = None,
                     generator: torch.Generator | None = None, temperature: float = 1.0,
                     context: Tensor | None = None) -> Tensor:
        """Like `sample`, but runs the whole network on the whole grid for every position:
        H * W full passes. The plain approach, kept as the reference `sample` must match."""
        codes, biases = self._sampling_biases(n, shape, labels, context, temperature)
        for i in range(shape[0]):
            for j in range(shape[1]):
                logits = self._logits(codes, biases)[:, :, i, j]
                codes[:, i, j] = self._draw(logits, temperature, generator)
        return codes
