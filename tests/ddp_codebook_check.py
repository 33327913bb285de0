"""Run by tests/test_distributed.py under torchrun: train a tiny VQ-VAE data-parallel,
then compare every process's codebook and EMA statistics with rank 0's; exit 0 when
they are identical, 1 (naming the tensor) when not."""

import sys

import torch.distributed as dist

from vaelab.config import compose
from vaelab.models import config_class
from vaelab.nn import distributed
from vaelab.runs import train
from ddp_checks import first_difference

run, quantizer = sys.argv[1], sys.argv[2]
cfg = compose({"data": {"name": "shapes", "image_size": 16, "num_samples": 160, "val": 32}}, [
    "model.name=vqvae", "model.channels=[8,16]", "model.res_blocks=1", "model.num_codes=16", "model.code_dim=4",
    f"model.quantizer.name={quantizer}", "model.quantizer.dead_code_steps=2", "train.epochs=2", "train.batch_size=32",
    "train.progress=false"], config_class)
quantizer = train(cfg, run).model.quantizer
name = first_difference(quantizer.state_dict())
if name is not None:
    print(f"rank {dist.get_rank()}: {name} differs from rank 0's", flush=True)
    sys.exit(1)
print(f"rank {dist.get_rank()}: identical", flush=True)
distributed.finish(0)
