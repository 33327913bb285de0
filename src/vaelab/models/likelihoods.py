"""Decoder likelihoods p(x|z): they turn the decoder's raw output into a loss and an image.

Every `nll` is -log p(x|z) in nats per example, summed over the data dimensions: shape [B].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaelab.errors import ConfigError


class Bernoulli(nn.Module):
    """x_i ~ Bernoulli(sigmoid(out_i)); the decoder output is a logit per pixel.

    -log p(x|z) = sum_i BCE(sigmoid(out_i), x_i) = sum_i [softplus(out_i) - x_i * out_i].
    Exact for binary x; for grey levels in [0, 1] it is the usual (unnormalised) surrogate.
    """

    def nll(self, out: Tensor, x: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(out.float(), x, reduction="none").flatten(1).sum(1)  # float32 under autocast

    def mean(self, out: Tensor) -> Tensor:
        return torch.sigmoid(out)


class Gaussian(nn.Module):
    """x ~ N(f(z), c I) with f(z) = out, the decoder's output itself.

    (Not squashed by a sigmoid: squared error through a saturated sigmoid has vanishing
    gradients, and a conv VQ-VAE then sat on the mean image for hundreds of steps.
    Pictures clip the mean to [0, 1].)

    -log p(x|z) = ||x - f(z)||^2 / (2c) + (D/2) log(2 pi c),   D = C*H*W.
    With fixed c this is squared error weighted 1/(2c) against the KL: a small c favours
    sharp reconstructions, a large c a close fit to the prior. With `learned=True`,
    log c is one trained scalar (the optimal shared variance, as in sigma-VAE), floored
    at `min_variance` because nearly binary data would otherwise drive c to 0.
    """

    def __init__(self, variance: float = 1.0, learned: bool = False, min_variance: float = 1e-4):
        super().__init__()
        if variance <= 0:
            raise ConfigError(f"gaussian likelihood needs variance > 0, got {variance}")
        log_c = torch.tensor(math.log(variance))
        if learned:
            self.log_variance = nn.Parameter(log_c)
        else:
            self.register_buffer("log_variance", log_c)
        self.min_log_variance = math.log(min_variance)

    @property
    def variance(self) -> Tensor:
        return self.log_variance.clamp(min=self.min_log_variance).exp()

    def nll(self, out: Tensor, x: Tensor) -> Tensor:
        log_c = self.log_variance.clamp(min=self.min_log_variance)
        sq_error = (x - self.mean(out).float()).pow(2).flatten(1).sum(1)  # float32 under autocast
        dims = x[0].numel()
        return 0.5 * sq_error / log_c.exp() + 0.5 * dims * (math.log(2 * math.pi) + log_c)

    def mean(self, out: Tensor) -> Tensor:
        return out


def build_likelihood(kind: str, variance: float = 1.0) -> nn.Module:
    """'bernoulli' | 'gaussian' (fixed variance c) | 'gaussian-learned' (c trained, starts at `variance`)."""
    if kind == "bernoulli":
        return Bernoulli()
    if kind == "gaussian":
        return Gaussian(variance)
    if kind == "gaussian-learned":
        return Gaussian(variance, learned=True)
    raise ConfigError(f"unknown likelihood {kind!r}: use 'bernoulli', 'gaussian' or 'gaussian-learned'")
