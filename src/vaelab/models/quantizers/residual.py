"""Residual vector quantization (Juang and Gray, 1982; SoundStream, Zeghidour et al., 2021):
S stages, each quantising what the stages before it left over.

    r_1 = z_e,   k_s = nearest code of r_s in codebook s,   r_{s+1} = r_s - e_s(k_s)
    z_q = sum_s e_s(k_s)                            (straight-through, or rotated, to z_e)

S stages of K codes name K^S points with S K codewords: rate grows by log2 K bits per
position with each stage, and any prefix of the stages decodes to a coarser z_q.
Quantizer dropout (SoundStream) trains with a random number of stages, 1..S, drawn per
batch with probability `quantizer_dropout`, so that every prefix decodes well.

Codes carry a stage axis where the channels sit: [B, ..., S] for channel-last inputs,
[B, S, ...] channels first (base.py). Usage is counted
over all S K codewords of separate codebooks (a code of stage 2 is not one of stage 1),
or over the K of a shared one. Each stage is an `EMAVectorQuantizer` (or a
`VectorQuantizer`, codebook='vq') with its own k-means start and dead-code restarts; a
shared codebook is updated once per stage per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vaelab.config import at_least, bounded, one_of
from vaelab.errors import ConfigError
from vaelab.models.quantizers.base import Quantizer, QuantizerConfig, QuantizerOutput
from vaelab.models.quantizers.ema import EMAVectorQuantizer
from vaelab.models.quantizers.estimators import GRADIENT_ESTIMATORS, gradient_estimator
from vaelab.models.quantizers.vq import VectorQuantizer
from vaelab.nn import distributed


@dataclass
class ResidualVectorQuantizerConfig(QuantizerConfig):
    """model.quantizer of name residual: ResidualVectorQuantizer's arguments (below);
    model.num_codes is K, the codes of each stage."""

    name: str = one_of("residual", default="residual")
    num_quantizers: int = at_least(1, default=4)  # S stages
    shared_codebook: bool = False  # one codebook for every stage
    quantizer_dropout: float = bounded(0, 1, default=0.0)  # train on a random prefix of stages
    codebook: str = one_of("ema", "vq", default="ema")  # how each stage's codebook learns
    gradient: str = one_of(*GRADIENT_ESTIMATORS, default="straight_through")  # applied once to the sum
    commitment: float = at_least(0, default=0.25)  # each stage's beta
    decay: float = bounded(0, 1, default=0.99, low_open=True, high_open=True)  # codebook ema
    kmeans_init: bool = True
    dead_code_steps: int = at_least(0, default=10)


class ResidualVectorQuantizer(Quantizer):
    """S nearest-codeword quantizers, each on the residual the ones before it left.

        ResidualVectorQuantizer(dim=64, codebook_size=1024, num_quantizers=8)(z)
            z [B, ..., 64] -> codes [B, ..., 8]; lookup(codes[..., :2]) decodes two stages

    Args:
        dim: D, the size of the input vectors and of every codeword.
        codebook_size: K, codes per stage.
        num_quantizers: S, the number of residual stages.
        shared_codebook: one codebook for every stage instead of one each.
        quantizer_dropout: probability that a training batch uses a random prefix 1..S.
        codebook: 'ema' or 'vq', how each stage's codewords learn (ema.py, vq.py).
        gradient: 'straight_through' or 'rotation', applied once to the sum (estimators.py).
        commitment, decay, kmeans_init, dead_code_steps: each stage's (see VectorQuantizer).
        channels_first: inputs [B, D, ...] instead of [B, ..., D] (base.py).
    """

    stacked_codes = True

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        *,
        num_quantizers: int = 4,
        shared_codebook: bool = False,
        quantizer_dropout: float = 0.0,
        codebook: str = "ema",
        gradient: str = "straight_through",
        commitment: float = 0.25,
        decay: float = 0.99,
        kmeans_init: bool = True,
        dead_code_steps: int = 10,
        channels_first: bool = False,
    ):
        if num_quantizers < 1 or not 0 <= quantizer_dropout <= 1 or codebook not in ("ema", "vq"):
            raise ConfigError(f"residual VQ needs num_quantizers >= 1, quantizer_dropout in [0, 1] and codebook 'ema' or "
                              f"'vq'; got num_quantizers={num_quantizers}, quantizer_dropout={quantizer_dropout}, "
                              f"codebook={codebook!r}")
        estimator = gradient_estimator(gradient)
        super().__init__(codebook_size * (1 if shared_codebook else num_quantizers), dim, channels_first)
        self.stage_options = dict(commitment=commitment, decay=decay, kmeans_init=kmeans_init,
                                  dead_code_steps=dead_code_steps)  # each stage's, for settings()
        options = dict(commitment=commitment, kmeans_init=kmeans_init, dead_code_steps=dead_code_steps,
                       channels_first=True)  # the stages work on [B, D, ...] (quantize, dequantize)
        make = (lambda: EMAVectorQuantizer(dim, codebook_size, decay=decay, **options)) if codebook == "ema" else \
               (lambda: VectorQuantizer(dim, codebook_size, **options))
        self.stages, self.codes_per_stage, self.codes_per_position = num_quantizers, codebook_size, num_quantizers
        self.shared, self.quantizer_dropout, self.estimator = shared_codebook, quantizer_dropout, estimator
        self.stage_codebook, self.gradient = codebook, gradient
        self.layers = nn.ModuleList([make() for _ in range(1 if shared_codebook else num_quantizers)])

    def settings(self) -> dict:
        return {"dim": self.dim, "codebook_size": self.codes_per_stage, "num_quantizers": self.stages,
                "shared_codebook": self.shared, "quantizer_dropout": self.quantizer_dropout,
                "codebook": self.stage_codebook, "gradient": self.gradient, **self.stage_options,
                "channels_first": self.channels_first}

    def layer(self, s: int) -> VectorQuantizer:
        """The quantizer of stage s (the one shared quantizer, if shared)."""
        return self.layers[0 if self.shared else s]

    def _stages_this_batch(self, device: torch.device) -> int:
        """S, or in training with probability quantizer_dropout a uniform draw from 1..S.
        Data-parallel, rank 0's draw: every process must run the same stages, whose
        codebook statistics are all-reduced stage by stage."""
        if not (self.training and self.quantizer_dropout > 0):
            return self.stages
        stages = int(torch.randint(1, self.stages + 1, ())) if torch.rand(()) < self.quantizer_dropout else self.stages
        return int(distributed.from_main(torch.tensor(stages, device=device)))

    def quantize(self, z_e: Tensor) -> QuantizerOutput:
        residual, total = z_e, torch.zeros_like(z_e)
        codes, losses = [], {}
        for s in range(self._stages_this_batch(z_e.device)):
            out = self.layer(s).quantize(residual)
            e = out.z_q.detach()  # the stage's codewords (forward value of its z_q)
            total, residual = total + e, residual - e
            codes.append(out.codes)
            for name, value in out.losses.items():
                losses[name] = losses.get(name, 0) + value
        codes = torch.stack(codes, dim=1)  # (B, S', ...)
        z_q = self.estimator(z_e, total)
        counts = self._count(codes)
        if self.training:  # data-parallel: usage counts every process's codes, like each stage's statistics
            counts = distributed.all_sum(counts)
        return QuantizerOutput(z_q, codes, losses, counts)

    def _count(self, codes: Tensor) -> Tensor:
        """Counts over the S K codewords (stage s's code k is codeword s K + k), or the K shared ones."""
        if not self.shared:
            stage = torch.arange(codes.shape[1], device=codes.device).view(1, -1, *([1] * (codes.dim() - 2)))
            codes = codes + stage * self.codes_per_stage
        return torch.bincount(codes.flatten(), minlength=self.num_codes)

    def dequantize(self, codes: Tensor) -> Tensor:
        """codes int64 [B, S', ...] for the first S' <= S stages -> the sum of their codewords [B, D, ...]."""
        if codes.dim() < 2 or codes.shape[1] > self.stages:
            raise ConfigError(f"residual codes carry at most num_quantizers={self.stages} stages on their stage axis; "
                              f"got {codes.shape[1] if codes.dim() > 1 else 'no stage axis'}")
        return sum(self.layer(s).dequantize(codes[:, s]) for s in range(codes.shape[1]))
