"""Vector quantizer for VQ-VAE (van den Oord et al., 2017): a codebook of K vectors of size D.

It knows nothing of images: it maps encoder outputs z_e [B, D, ...] (channels first) to
their nearest codewords, and keeps its codebook alive:

    k_i  = argmin_k ||z_e,i - e_k||^2             nearest code (quantization.nearest_code)
    z_q  = z_e + sg(e_k - z_e)                    straight-through: decoder gradients reach z_e
    codebook loss   = ||sg(z_e) - e_k||^2         moves the codewords (unless EMA does)
    commitment loss = beta ||z_e - sg(e_k)||^2    keeps the encoder near its codes

Both losses are summed over latent positions and dimensions and averaged over the batch,
like every loss in vaelab.

EMA codebook (van den Oord et al., appendix; sonnet's VectorQuantizerEMA) instead of the
codebook loss, with n_i the number of vectors assigned to code i in the batch:

    N_i <- g N_i + (1 - g) n_i,     m_i <- g m_i + (1 - g) sum_{j: k_j = i} z_e,j
    e_i  = m_i / N~_i,   N~_i = (N_i + eps) / (N + K eps) * N   (Laplace smoothing, N = sum N_i)

N starts at one and m at the initial codeword, so a code unused in the first batches
keeps its vector instead of being divided by a count near zero.

Codebook health: k-means (LBG, the study tool in quantization.py) on the first training
batch's encoder outputs initialises the codebook; a code unused for `dead_code_steps`
training steps is restarted at a random encoder output of the current batch; usage
(fraction of codes used) and perplexity are gathered over each pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaelab.errors import ConfigError
from vaelab.quantization import lbg, nearest_code


@dataclass
class QuantizerOutput:
    z_q: Tensor  # [B, D, ...] quantized vectors, with straight-through gradients to z_e
    codes: Tensor  # int64 [B, ...] index of each vector's codeword
    losses: dict[str, Tensor]  # commitment (and codebook, without EMA): scalars, summed per example, batch mean


class VectorQuantizer(nn.Module):
    def __init__(
        self,
        num_codes: int,
        code_dim: int,
        commitment: float = 0.25,
        ema: bool = True,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        kmeans_init: bool = True,
        dead_code_steps: int = 10,
        chunk_size: int = 8192,
    ):
        super().__init__()
        if num_codes < 2 or code_dim < 1:
            raise ConfigError(f"a codebook needs at least 2 codes of dimension >= 1, got K={num_codes}, D={code_dim}")
        if ema and not 0 < decay < 1:
            raise ConfigError(f"EMA decay must be in (0, 1), got {decay}")
        self.num_codes, self.code_dim, self.commitment = num_codes, code_dim, commitment
        self.ema, self.decay, self.epsilon = ema, decay, epsilon
        self.dead_code_steps, self.chunk_size = dead_code_steps, chunk_size
        init = torch.empty(num_codes, code_dim).uniform_(-1 / num_codes, 1 / num_codes)
        if ema:
            self.register_buffer("codebook", init)
            self.register_buffer("cluster_size", torch.ones(num_codes))  # N_i, starts at one
            self.register_buffer("embed_sum", init.clone())  # m_i, starts at the codeword
        else:
            self.codebook = nn.Parameter(init)
        self.register_buffer("initialized", torch.tensor(not kmeans_init))
        self.register_buffer("unused_steps", torch.zeros(num_codes, dtype=torch.long))
        self.register_buffer("usage_counts", torch.zeros(num_codes), persistent=False)

    def lookup(self, codes: Tensor) -> Tensor:
        """codes int64 [B, ...] -> codewords [B, D, ...] (channels first)."""
        vectors = F.embedding(codes, self.codebook)  # [B, ..., D]
        return vectors.movedim(-1, 1)

    def forward(self, z_e: Tensor) -> QuantizerOutput:
        flat = z_e.movedim(1, -1).reshape(-1, self.code_dim)  # [B*H*W, D]
        if self.training and not self.initialized:
            self._kmeans_init(flat.detach())
        codes, _ = nearest_code(flat.detach(), self.codebook.detach(), self.chunk_size)
        e = self.lookup(codes.view(z_e.shape[0], *z_e.shape[2:]))  # [B, D, ...]
        batch = z_e.shape[0]
        losses = {"commitment": self.commitment * (z_e - e.detach()).pow(2).sum() / batch}
        if not self.ema:
            losses["codebook"] = (z_e.detach() - e).pow(2).sum() / batch
        if self.training:
            with torch.no_grad():
                if self.ema:
                    self._ema_update(flat.detach(), codes)
                self._restart_dead_codes(flat.detach(), codes)
        with torch.no_grad():
            self.usage_counts += torch.bincount(codes, minlength=self.num_codes)
        z_q = z_e + (e - z_e).detach()
        return QuantizerOutput(z_q, codes.view(z_e.shape[0], *z_e.shape[2:]), losses)

    @torch.no_grad()
    def _kmeans_init(self, flat: Tensor) -> None:
        if len(flat) < self.num_codes:
            raise ConfigError(
                f"k-means initialisation needs at least K={self.num_codes} encoder vectors in the first batch, "
                f"got {len(flat)}; raise the batch size or set model.kmeans_init=false"
            )
        codebook = lbg(flat.float(), self.num_codes, iters=10).codebook.to(self.codebook)
        self.codebook.data.copy_(codebook)
        if self.ema:
            self.cluster_size.fill_(1.0)
            self.embed_sum.copy_(codebook)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, flat: Tensor, codes: Tensor) -> None:
        counts = torch.bincount(codes, minlength=self.num_codes).to(flat.dtype)  # n_i
        sums = torch.zeros_like(self.embed_sum).index_add_(0, codes, flat.to(self.embed_sum.dtype))
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.epsilon) / (total + self.num_codes * self.epsilon) * total
        self.codebook.copy_(self.embed_sum / smoothed[:, None])

    @torch.no_grad()
    def _restart_dead_codes(self, flat: Tensor, codes: Tensor) -> None:
        used = torch.bincount(codes, minlength=self.num_codes) > 0
        self.unused_steps.add_(1).masked_fill_(used, 0)
        if self.dead_code_steps <= 0:
            return
        dead = (self.unused_steps >= self.dead_code_steps).nonzero().squeeze(1)
        if len(dead) == 0:
            return
        fresh = flat[torch.randint(len(flat), (len(dead),), device=flat.device)].to(self.codebook.dtype)
        self.codebook.data[dead] = fresh
        if self.ema:
            self.cluster_size[dead] = 1.0
            self.embed_sum[dead] = fresh
        self.unused_steps[dead] = 0

    def reset_usage(self) -> None:
        self.usage_counts.zero_()

    def usage_stats(self) -> dict[str, float]:
        """usage: fraction of codes used since reset_usage; perplexity: exp(entropy of the
        code frequencies), K when every code is used equally, 1 when one code takes all."""
        total = self.usage_counts.sum()
        if total == 0:
            return {}
        p = self.usage_counts / total
        entropy = -(p[p > 0] * p[p > 0].log()).sum()
        return {"usage": float((self.usage_counts > 0).float().mean()), "perplexity": math.exp(float(entropy))}
