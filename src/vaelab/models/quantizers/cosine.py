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

from dataclasses import replace

import torch.nn.functional as F
from torch import Tensor

from vaelab.errors import ConfigError
from vaelab.models.quantizers.base import QuantizerOutput
from vaelab.models.quantizers.channels import ChannelLinear
from vaelab.models.quantizers.vq import VectorQuantizer


class CosineVectorQuantizer(VectorQuantizer):
    """Args (beside those of VectorQuantizer, whose code_dim here is the encoder's D):
        codebook_dim: d, the dimension of the projected, normalised lookup space.
    """

    def __init__(
        self,
        num_codes: int,
        code_dim: int,
        codebook_dim: int = 8,
        commitment: float = 0.25,
        kmeans_init: bool = True,
        dead_code_steps: int = 10,
        gradient: str = "straight_through",
        chunk_size: int = 8192,
    ):
        if codebook_dim < 2:
            raise ConfigError(f"a cosine codebook needs codebook_dim >= 2 (one dimension has two unit vectors), got {codebook_dim}")
        super().__init__(num_codes, codebook_dim, commitment, kmeans_init, dead_code_steps, gradient, chunk_size)
        self.project_in = ChannelLinear(code_dim, codebook_dim)
        self.project_out = ChannelLinear(codebook_dim, code_dim)

    def codewords(self) -> Tensor:
        return F.normalize(self.codebook, dim=1)

    def quantize(self, z_e: Tensor) -> QuantizerOutput:
        low = F.normalize(self.project_in(z_e), dim=1)  # (B, d, ...) on the unit sphere
        out = super().quantize(low)
        return replace(out, z_q=self.project_out(out.z_q))  # (B, D, ...)

    def lookup(self, codes: Tensor) -> Tensor:
        return self.project_out(self.code_vectors(codes))
