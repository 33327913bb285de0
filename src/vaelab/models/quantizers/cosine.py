"""Cosine-similarity lookup in a low-dimensional codebook (Yu et al., 2022, ViT-VQGAN):

    z = normalize(W_in z_e)             D -> d (d = codebook_dim, e.g. 8), unit length
    k = argmax_k z . normalize(c_k)     = argmin_k ||z - normalize(c_k)||^2 on the sphere
    z_q = W_out normalize(c_k)          d -> D

Searching a few dimensions on the unit sphere puts the codewords where the encoder
outputs are (norms cannot drift apart), which is why the paper finds nearly every code
in use. Codebook and commitment losses are those of `VectorQuantizer`, taken in the
normalised d-dimensional space; the codewords c_k are parameters, normalised when read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch.nn.functional as F
from torch import Tensor

from vaelab.config import at_least, one_of
from vaelab.errors import ConfigError
from vaelab.models.quantizers.base import QuantizerOutput
from vaelab.models.quantizers.channels import ChannelLinear
from vaelab.models.quantizers.vq import VectorQuantizer, VectorQuantizerConfig


@dataclass
class CosineVectorQuantizerConfig(VectorQuantizerConfig):
    """model.quantizer of name cosine: CosineVectorQuantizer's arguments (below)."""

    name: str = one_of("cosine", default="cosine")
    codebook_dim: int = at_least(2, default=8)  # d, the normalised lookup space


class CosineVectorQuantizer(VectorQuantizer):
    """Nearest-codeword quantizer searching normalised codewords in a small projected space.

        CosineVectorQuantizer(dim=64, codebook_size=512, codebook_dim=8)(z)    z [B, ..., 64]

    Args (beside those of VectorQuantizer, whose dim here is the input's D):
        codebook_dim: d, the dimension of the projected, normalised lookup space (the
            codewords c_k are [K, d]).
    """

    def __init__(
        self,
        dim: int,
        codebook_size: int,
        *,
        codebook_dim: int = 8,
        commitment: float = 0.25,
        kmeans_init: bool = True,
        dead_code_steps: int = 10,
        gradient: str = "straight_through",
        chunk_size: int = 8192,
        channels_first: bool = False,
    ):
        if codebook_dim < 2 or dim < 1:
            raise ConfigError(f"a cosine codebook needs codebook_dim >= 2 (one dimension has two unit vectors) and "
                              f"dim >= 1, got codebook_dim={codebook_dim}, dim={dim}")
        # The codewords and the search live in d dimensions; the layer's input has D.
        super().__init__(codebook_dim, codebook_size, commitment=commitment, kmeans_init=kmeans_init,
                         dead_code_steps=dead_code_steps, gradient=gradient, chunk_size=chunk_size,
                         channels_first=channels_first)
        self.dim, self.codebook_dim = dim, codebook_dim
        self.project_in = ChannelLinear(dim, codebook_dim)
        self.project_out = ChannelLinear(codebook_dim, dim)

    def settings(self) -> dict:
        return super().settings() | {"codebook_dim": self.codebook_dim}

    def codewords(self) -> Tensor:
        return F.normalize(self.codebook, dim=1)

    def quantize(self, z_e: Tensor) -> QuantizerOutput:
        low = F.normalize(self.project_in(z_e), dim=1)  # (B, d, ...) on the unit sphere
        out = super().quantize(low)
        return replace(out, z_q=self.project_out(out.z_q))  # (B, D, ...)

    def dequantize(self, codes: Tensor) -> Tensor:
        return self.project_out(self.code_vectors(codes))
