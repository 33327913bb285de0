"""Gumbel-softmax quantization (Jang et al., 2017; Maddison et al., 2017), as in the
discrete VAE of DALL-E (Ramesh et al., 2021): the encoder outputs logits over K codes,
and training mixes the codewords by a relaxed one-hot sample instead of choosing one.

    l = W z_e                                   logits [B, K, ...], one set per position
    y = softmax((l + g) / tau),  g ~ Gumbel(0, 1)       (training; tau anneals)
    z_q = sum_k y_k e_k                          [B, D, ...]
    code = argmax_k l_k                          (evaluation: z_q = e_code)
    kl = sum over positions of KL(softmax(l) || uniform(K)) = sum_k q_k log(q_k K)
    diversity = P KL(p_bar || uniform(K)) = P (log K - H(p_bar))    p_bar: softmax(l) averaged
                                                                     over the batch's positions

The KL is the ELBO's term for a uniform prior over codes (summed over positions,
averaged over the batch, nats), weighted by `kl_weight`. It asks each position to be
uncertain, not the codes to be used: the diversity term (wav2vec 2.0's remedy for the
same quantizer) asks the batch's average code distribution to be uniform, in the same
units (P positions per example), weighted by `diversity_weight`. tau falls geometrically from
`temperature` to `temperature_end` over `temperature_steps` training steps, then stays:
high tau gives smooth gradients, low tau samples close to one-hot. `hard` uses the
one-hot forward with the relaxed gradient (straight-through Gumbel).

On MNIST (BENCHMARKS.md) the per-position KL at weight 1 left a third of 256 codes
unused on held-out images; at 0.1 with the diversity term at 1, 96% are in use. (Copying
a busy code's logits into dead ones, LBG-style, made it worse: 8% in use.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaelab.config import above, at_least, one_of
from vaelab.errors import ConfigError
from vaelab.models.quantizers.base import Quantizer, QuantizerConfig, QuantizerOutput
from vaelab.models.quantizers.channels import ChannelLinear
from vaelab.nn import distributed


@dataclass
class GumbelQuantizerConfig(QuantizerConfig):
    """model.quantizer of name gumbel: GumbelQuantizer's arguments (below)."""

    name: str = one_of("gumbel", default="gumbel")
    temperature: float = above(0, default=1.0)  # tau at the start
    temperature_end: float = above(0, default=1 / 16)  # tau after temperature_steps
    temperature_steps: int = at_least(1, default=5000)
    kl_weight: float = at_least(0, default=0.1)  # weight of KL(q(code | x) || uniform)
    hard: bool = False  # one-hot forward, relaxed backward
    diversity_weight: float = at_least(0, default=1.0)  # weight of KL(the batch's code use || uniform)

    def check_across(self, where: str, root: Any) -> None:
        if self.temperature_end > self.temperature:
            raise ConfigError(f"{where}temperature_end must be <= {where}temperature ({self.temperature}), "
                              f"got {self.temperature_end}")


class GumbelQuantizer(Quantizer):
    """Logits over K codes; a relaxed one-hot sample mixes the codewords while training.

        GumbelQuantizer(dim=64, codebook_size=512)(z)    z [B, ..., 64]

    Args:
        dim: D, the input's channels and the codewords' size.
        codebook_size: K.
        temperature: tau at step 0.
        temperature_end: tau after `temperature_steps` training steps (DALL-E: 1 -> 1/16).
        temperature_steps: the length of the geometric annealing.
        kl_weight: the weight of KL(q(code | x) || uniform) in the loss.
        hard: one-hot samples forward, relaxed gradients backward.
        diversity_weight: the weight of P KL(p_bar || uniform), the batch's code use.
        channels_first: inputs [B, D, ...] instead of [B, ..., D] (base.py).
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        *,
        temperature: float = 1.0,
        temperature_end: float = 1 / 16,
        temperature_steps: int = 5000,
        kl_weight: float = 0.1,
        hard: bool = False,
        diversity_weight: float = 1.0,
        channels_first: bool = False,
    ):
        if codebook_size < 2 or not 0 < temperature_end <= temperature or temperature_steps < 1 or kl_weight < 0:
            raise ConfigError(f"GumbelQuantizer needs codebook_size >= 2, 0 < temperature_end <= temperature, "
                              f"temperature_steps >= 1 and kl_weight >= 0; got codebook_size={codebook_size}, "
                              f"temperature_end={temperature_end}, temperature={temperature}, "
                              f"temperature_steps={temperature_steps}, kl_weight={kl_weight}")
        super().__init__(codebook_size, dim, channels_first)
        self.temperature, self.temperature_end, self.temperature_steps = temperature, temperature_end, temperature_steps
        self.kl_weight, self.hard = kl_weight, hard
        self.diversity_weight = diversity_weight
        self.to_logits = ChannelLinear(dim, codebook_size)
        self.codebook = nn.Parameter(torch.randn(codebook_size, dim))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def settings(self) -> dict:
        return {"dim": self.dim, "codebook_size": self.num_codes, "temperature": self.temperature,
                "temperature_end": self.temperature_end, "temperature_steps": self.temperature_steps,
                "kl_weight": self.kl_weight, "hard": self.hard, "diversity_weight": self.diversity_weight,
                "channels_first": self.channels_first}

    def current_temperature(self) -> Tensor:
        """tau at this step: temperature * (temperature_end / temperature) ** min(1, step / temperature_steps)."""
        progress = (self.step.float() / self.temperature_steps).clamp(max=1)
        return self.temperature * (self.temperature_end / self.temperature) ** progress

    def quantize(self, z_e: Tensor) -> QuantizerOutput:
        logits = self.to_logits(z_e)  # (B, K, ...)
        codes = logits.argmax(1)  # (B, ...)
        if self.training:
            weights = self.relaxed_sample(logits)
            self.step += 1
        else:
            weights = F.one_hot(codes, self.num_codes).movedim(-1, 1).to(logits.dtype)  # (B, K, ...)
        z_q = torch.einsum("bk...,kd->bd...", weights, self.codebook)  # (B, D, ...)
        log_q = logits.log_softmax(1)
        q = log_q.exp()  # (B, K, ...)
        kl = (q * (log_q + math.log(self.num_codes))).sum() / z_e.shape[0]
        p_bar = q.movedim(1, -1).reshape(-1, self.num_codes).mean(0)  # (K,): the batch's code use
        positions = log_q[0, 0].numel()
        diversity = positions * (p_bar * (p_bar.clamp_min(1e-12).log() + math.log(self.num_codes))).sum()
        counts = self._count(codes)
        if self.training:  # data-parallel: every process counts every process's codes
            counts = distributed.all_sum(counts)
        losses = {"kl": self.kl_weight * kl, "diversity": self.diversity_weight * diversity}
        return QuantizerOutput(z_q, codes, losses, counts)

    def relaxed_sample(self, logits: Tensor) -> Tensor:
        """softmax((l + g) / tau) over dimension 1, g ~ Gumbel(0, 1); one-hot forward if `hard`.
        tau stays a tensor (no host sync on a GPU)."""
        gumbel = -torch.empty_like(logits).exponential_().log()  # -log(Exp(1)) ~ Gumbel(0, 1)
        soft = ((logits + gumbel) / self.current_temperature()).softmax(1)
        if not self.hard:
            return soft
        one_hot = F.one_hot(soft.argmax(1), self.num_codes).movedim(-1, 1).to(soft.dtype)
        return one_hot + soft - soft.detach()

    def dequantize(self, codes: Tensor) -> Tensor:
        return F.embedding(codes, self.codebook).movedim(-1, 1)  # (B, D, ...)
