"""Run by tests/test_quantizer_layers.py under torchrun (gloo, two processes): the same
quantizer layers on every process, each process its own batch, in training mode. Exit 0
when every layer's counts are those of both processes' codes together, 1 (naming the
layer) when a layer counted only its own. The residual quantizer drops stages at random
(quantizer dropout): rank 0's draw must rule every process, or their collectives part."""

import torch

from vaelab.nn import distributed
from vaelab.quantizers import FSQ, VQ, CosineVQ, EMAVQ, GumbelQuantizer, ResidualVQ

LAYERS = {
    "VQ": lambda: VQ(dim=4, codebook_size=8, kmeans_init=False),
    "EMAVQ": lambda: EMAVQ(dim=4, codebook_size=8, kmeans_init=False),
    "CosineVQ": lambda: CosineVQ(dim=4, codebook_size=8, codebook_dim=3, kmeans_init=False),
    "FSQ": lambda: FSQ(levels=[4, 3], dim=4),
    "GumbelQuantizer": lambda: GumbelQuantizer(dim=4, codebook_size=8),
    "ResidualVQ": lambda: ResidualVQ(dim=4, codebook_size=8, num_quantizers=3, quantizer_dropout=1.0, kmeans_init=False),
}

distributed.start("cpu")
rank = distributed.rank()
for name, make in LAYERS.items():
    torch.manual_seed(0)  # the same layer on every process
    q = make().train()
    torch.manual_seed(rank)  # each process its own random state from here, as in a real run
    z = torch.randn(2, 5, 4, generator=torch.Generator().manual_seed(1 + rank))  # (B, N, D): this process's batch
    out = q(z)
    mine = q.count_codes(out.codes)  # (K,): this process's codes alone
    both = sum(distributed.gathered(mine))  # (K,): every process's codes
    if not torch.equal(out.counts, both):
        print(f"rank {rank}: {name} counted {out.counts.tolist()}, both processes' codes are {both.tolist()}", flush=True)
        distributed.finish(1)
print(f"rank {rank}: counted over both", flush=True)
distributed.finish(0)
