"""Run by tests/test_own_networks.py under torchrun (gloo, two processes): a VAE and a VQ-VAE
with your own conv networks (tests/user_networks.py) trained data-parallel on 3x32x32
tensors; exit 0 when every process ends with rank 0's weights, 1 (naming the tensor) when not."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).parent))
from ddp_checks import first_difference  # noqa: E402
from user_networks import Decoder, Encoder, GridDecoder, GridEncoder  # noqa: E402

import vaelab  # noqa: E402
from vaelab.models import build_model, config_class  # noqa: E402
from vaelab.models.quantizers import EMAVectorQuantizerConfig  # noqa: E402
from vaelab.nn import distributed  # noqa: E402

NO_KMEANS = EMAVectorQuantizerConfig(kmeans_init=False)

folder = Path(sys.argv[1])
images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
models = {
    "vae": lambda: build_model(config_class("vae")(latent_dim=8), (3, 32, 32), encoder=Encoder(), decoder=Decoder()),
    "vqvae": lambda: build_model(config_class("vqvae")(code_dim=4, num_codes=16, quantizer=NO_KMEANS), (3, 32, 32),
                                 encoder=GridEncoder(), decoder=GridDecoder()),
}
for name, make in models.items():
    torch.manual_seed(0)  # the same weights on every process
    model = make()
    cfg = vaelab.RunConfig(model=model.config, train=vaelab.TrainConfig(epochs=1, batch_size=16, progress=False))
    key = first_difference(vaelab.train(cfg, folder / name, data=images, model=model).model.state_dict())
    if key is not None:
        print(f"rank {dist.get_rank()}: {name} {key} differs from rank 0's", flush=True)
        distributed.finish(1)
print(f"rank {dist.get_rank()}: identical", flush=True)
distributed.finish(0)
