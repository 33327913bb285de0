"""Residual vector quantization (Juang and Gray, 1982; SoundStream, Zeghidour et al., 2021):
S stages, each quantising what the stages before it left over.

    r_1 = z_e,   k_s = nearest code of r_s in codebook s,   r_{s+1} = r_s - e_s(k_s)
    z_q = sum_s e_s(k_s)                            (straight-through, or rotated, to z_e)

S stages of K codes name K^S points with S K codewords: rate grows by log2 K bits per
position with each stage, and any prefix of the stages decodes to a coarser z_q.
Quantizer dropout (SoundStream) trains with a random number of stages, 1..S, drawn per
batch with probability `quantizer_dropout`, so that every prefix decodes well.

Codes are [B, S, ...]: stage first after the batch, like channels. Usage is counted
over all S K codewords of separate codebooks (a code of stage 2 is not one of stage 1),
or over the K of a shared one. Each stage is an `EMAVectorQuantizer` (or a
`VectorQuantizer`, codebook='vq') with its own k-means start and dead-code restarts; a
shared codebook is updated once per stage per step.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vaelab.errors import ConfigError
from vaelab.models.quantizers.base import Quantizer, QuantizerOutput
from vaelab.models.quantizers.ema import EMAVectorQuantizer
from vaelab.models.quantizers.estimators import gradient_estimator
from vaelab.models.quantizers.vq import VectorQuantizer


class ResidualVectorQuantizer(Quantizer):
    """Args:
        num_codes: K, codes per stage.
        code_dim: D.
        stages: S, the number of residual stages.
        shared_codebook: one codebook for every stage instead of one each.
        quantizer_dropout: probability that a training batch uses a random prefix 1..S.
        codebook: 'ema' or 'vq', how each stage's codewords learn (ema.py, vq.py).
        gradient: 'straight_through' or 'rotation', applied once to the sum (estimators.py).
        commitment, decay, kmeans_init, dead_code_steps: each stage's (see VectorQuantizer).
    """

    def __init__(
        self,
        num_codes: int,
        code_dim: int,
        stages: int = 4,
        shared_codebook: bool = False,
        quantizer_dropout: float = 0.0,
        codebook: str = "ema",
        gradient: str = "straight_through",
        commitment: float = 0.25,
        decay: float = 0.99,
        kmeans_init: bool = True,
        dead_code_steps: int = 10,
    ):
        if stages < 1 or not 0 <= quantizer_dropout <= 1 or codebook not in ("ema", "vq"):
            raise ConfigError(f"residual VQ needs stages >= 1, quantizer_dropout in [0, 1] and codebook 'ema' or 'vq'; "
                              f"got {stages}, {quantizer_dropout}, {codebook!r}")
        estimator = gradient_estimator(gradient)
        super().__init__(num_codes * (1 if shared_codebook else stages), code_dim)
        make = (lambda: EMAVectorQuantizer(num_codes, code_dim, commitment, decay, kmeans_init=kmeans_init,
                                           dead_code_steps=dead_code_steps)) if codebook == "ema" else \
               (lambda: VectorQuantizer(num_codes, code_dim, commitment, kmeans_init, dead_code_steps))
        self.stages, self.codes_per_stage, self.codes_per_position = stages, num_codes, stages
        self.shared, self.quantizer_dropout, self.estimator = shared_codebook, quantizer_dropout, estimator
        self.layers = nn.ModuleList([make() for _ in range(1 if shared_codebook else stages)])

    def layer(self, s: int) -> VectorQuantizer:
        """The quantizer of stage s (the one shared quantizer, if shared)."""
        return self.layers[0 if self.shared else s]

    def _stages_this_batch(self) -> int:
        """S, or in training with probability quantizer_dropout a uniform draw from 1..S."""
        if self.training and self.quantizer_dropout > 0 and torch.rand(()) < self.quantizer_dropout:
            return int(torch.randint(1, self.stages + 1, ()))
        return self.stages

    def quantize(self, z_e: Tensor) -> QuantizerOutput:
        residual, total = z_e, torch.zeros_like(z_e)
        codes, losses = [], {}
        for s in range(self._stages_this_batch()):
            out = self.layer(s).quantize(residual)
            e = out.z_q.detach()  # the stage's codewords (forward value of its z_q)
            total, residual = total + e, residual - e
            codes.append(out.codes)
            for name, value in out.losses.items():
                losses[name] = losses.get(name, 0) + value
        codes = torch.stack(codes, dim=1)  # (B, S', ...)
        z_q = self.estimator(z_e, total)
        return QuantizerOutput(z_q, codes, losses, self.count_codes(codes))

    def count_codes(self, codes: Tensor) -> Tensor:
        """Counts over the S K codewords (stage s's code k is codeword s K + k), or the K shared ones."""
        if not self.shared:
            stage = torch.arange(codes.shape[1], device=codes.device).view(1, -1, *([1] * (codes.dim() - 2)))
            codes = codes + stage * self.codes_per_stage
        return torch.bincount(codes.flatten(), minlength=self.num_codes)

    def lookup(self, codes: Tensor) -> Tensor:
        """codes int64 [B, S', ...] for the first S' <= S stages -> the sum of their codewords [B, D, ...]."""
        if codes.dim() < 2 or codes.shape[1] > self.stages:
            raise ConfigError(f"residual codes are [B, stages, ...] with at most {self.stages} stages, got {list(codes.shape)}")
        return sum(self.layer(s).lookup(codes[:, s]) for s in range(codes.shape[1]))
