"""Vector quantizer whose codebook follows exponential moving averages (van den Oord et al.,
2017, appendix A.1; sonnet's VectorQuantizerEMA) instead of a codebook loss.

With n_i the number of vectors of the batch assigned to code i and decay g:

    N_i <- g N_i + (1 - g) n_i                        (cluster_size)
    m_i <- g m_i + (1 - g) sum_{j: k_j = i} z_e,j      (embed_sum)
    e_i  = m_i / N~_i,   N~_i = (N_i + eps) / (N + K eps) * N   (Laplace smoothing, N = sum_i N_i)

N starts at one and m at the initial codeword, so a code unused in the first batches
keeps its vector instead of being divided by a count near zero. The encoder still pays
the commitment loss; search, k-means initialisation and dead-code restarts are those
of `VectorQuantizer`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from vaelab.config import above, bounded, one_of
from vaelab.errors import ConfigError
from vaelab.nn import distributed
from vaelab.models.quantizers.vq import VectorQuantizer, VectorQuantizerConfig


@dataclass
class EMAVectorQuantizerConfig(VectorQuantizerConfig):
    """model.quantizer of name ema: EMAVectorQuantizer's arguments (below)."""

    name: str = one_of("ema", default="ema")
    decay: float = bounded(0, 1, default=0.99, low_open=True, high_open=True)  # gamma of the moving averages
    epsilon: float = above(0, default=1e-5)  # Laplace smoothing of the cluster sizes


class EMAVectorQuantizer(VectorQuantizer):
    """Nearest-codeword quantizer whose codebook is a buffer moved by moving averages.

        EMAVectorQuantizer(dim=64, codebook_size=512, decay=0.99)(z)    z [B, ..., 64]

    Args (beside those of VectorQuantizer):
        decay: g in (0, 1), the weight of the past in the moving averages (0.99 in the paper).
        epsilon: eps of the Laplace smoothing of the counts.
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        *,
        commitment: float = 0.25,
        decay: float = 0.99,
        epsilon: float = 1e-5,
        kmeans_init: bool = True,
        dead_code_steps: int = 10,
        gradient: str = "straight_through",
        chunk_size: int = 8192,
        channels_first: bool = False,
    ):
        if not 0 < decay < 1:
            raise ConfigError(f"EMA decay must be in (0, 1), got decay={decay}")
        super().__init__(dim, codebook_size, commitment=commitment, kmeans_init=kmeans_init,
                         dead_code_steps=dead_code_steps, gradient=gradient, chunk_size=chunk_size,
                         channels_first=channels_first)
        self.decay, self.epsilon = decay, epsilon

    def settings(self) -> dict:
        return super().settings() | {"decay": self.decay, "epsilon": self.epsilon}

    def _make_codebook(self, init: Tensor) -> None:
        self.register_buffer("codebook", init)  # not a parameter: no gradient moves it
        self.register_buffer("cluster_size", torch.ones(len(init)))  # N_i, starts at one
        self.register_buffer("embed_sum", init.clone())  # m_i, starts at the codeword

    def losses(self, z_e: Tensor, e: Tensor) -> dict[str, Tensor]:
        """commitment = beta ||z_e - sg(e)||^2 per example; no codebook loss."""
        return {"commitment": self.commitment_loss(z_e, e)}

    @torch.no_grad()
    def _update_codebook(self, flat: Tensor, codes: Tensor, counts: Tensor) -> None:
        sums = torch.zeros_like(self.embed_sum).index_add_(0, codes, flat.to(self.embed_sum.dtype))
        distributed.all_sum(sums)  # data-parallel: the statistics of every process's batch (counts already are)
        self.cluster_size.mul_(self.decay).add_(counts.to(flat.dtype), alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.epsilon) / (total + self.num_codes * self.epsilon) * total
        self.codebook.copy_(self.embed_sum / smoothed[:, None])

    def _replace_codes(self, mask: Tensor, vectors: Tensor) -> None:
        super()._replace_codes(mask, vectors)
        self.cluster_size.masked_fill_(mask, 1.0)
        self.embed_sum.copy_(torch.where(mask[:, None], vectors.to(self.embed_sum.dtype), self.embed_sum))

    def _set_codes(self, index, vectors: Tensor) -> None:
        """New codewords start fresh averages: a count of one, a sum equal to the codeword."""
        super()._set_codes(index, vectors)
        self.cluster_size[index] = 1.0
        self.embed_sum[index] = vectors.to(self.embed_sum.dtype)
