"""Quantizers as layers, under the names researchers know: drop one into any model.

Channel-last inputs [B, ..., D] by default (sequences [B, N, D], grids [B, H, W, D]);
channels_first=True for conv feature maps [B, D, H, W] or volumes [B, D, T, H, W]. Each
returns QuantizerOutput(z_q, codes, losses, counts) with z_q in the input's layout,
codes [B, ...], and `.loss`, the sum of its losses; `lookup(codes)` goes back to vectors.

Example: FSQ as the bottleneck of a transformer over [B, N, D]:

    import torch
    from torch import nn
    from vaelab.quantizers import FSQ

    dim = 64
    layer = nn.TransformerEncoderLayer(dim, nhead=4, batch_first=True)
    encoder, decoder = nn.TransformerEncoder(layer, 2), nn.TransformerEncoder(layer, 2)
    fsq = FSQ(levels=[8, 5, 5, 5], dim=dim)          # 1000 codes; projects 64 -> 4 -> 64
    x = torch.randn(2, 16, dim)                      # (B, N, D)
    q = fsq(encoder(x))                              # q.z_q (B, N, D), q.codes (B, N)
    loss = (decoder(q.z_q) - x).pow(2).mean() + q.loss   # FSQ has no losses: q.loss is 0
    assert torch.allclose(fsq.lookup(q.codes), q.z_q, atol=1e-5)   # back from the codes

    VQ(dim, codebook_size)             codebook trained by the codebook loss (vq.py)
    EMAVQ(dim, codebook_size)          codebook moved by moving averages (ema.py)
    CosineVQ(dim, codebook_size)       normalised lookup in a small projected codebook (cosine.py)
    ResidualVQ(dim, codebook_size, num_quantizers=S)   codes [B, ..., S] (residual.py)
    FSQ(levels, dim=None)              bounded scalars rounded to a grid, prod(levels) codes (fsq.py)
    GumbelQuantizer(dim, codebook_size)  relaxed categorical, KL to uniform (gumbel.py)

Their other arguments are the ones documented in vaelab/models/quantizers/.
"""

from vaelab.models.quantizers.base import Quantizer, QuantizerOutput
from vaelab.models.quantizers.cosine import CosineVectorQuantizer as CosineVQ
from vaelab.models.quantizers.ema import EMAVectorQuantizer as EMAVQ
from vaelab.models.quantizers.fsq import FiniteScalarQuantizer as FSQ
from vaelab.models.quantizers.gumbel import GumbelQuantizer
from vaelab.models.quantizers.residual import ResidualVectorQuantizer as ResidualVQ
from vaelab.models.quantizers.vq import VectorQuantizer as VQ

__all__ = ["CosineVQ", "EMAVQ", "FSQ", "GumbelQuantizer", "Quantizer", "QuantizerOutput", "ResidualVQ", "VQ"]
