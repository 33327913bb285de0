# %% [markdown]
# # VQ-VAE and its prior
#
# Train a VQ-VAE, look at its code grids, check that its codebook is in use, then fit a gated
# PixelCNN over the codes and sample new images from it. Theory: the guide's
# [VQ-VAE page](../guide/vqvae.md).

# %%
import os
from pathlib import Path

import torch

import vaelab
from vaelab.data import load_dataset
from vaelab.plots.grid import save_grid
from vaelab.runs.prior import train_prior

QUICK = os.environ.get("VAELAB_TUTORIAL_QUICK") == "1"
MNIST = Path(os.environ.get("VAELAB_MNIST", "../shared/data/mnist"))
if (MNIST / "t10k-images-idx3-ubyte.gz").exists():
    data = ["data.name=mnist", f"data.root={MNIST}", "data.split=test", "data.val=1000"]
else:
    data = ["data.name=shapes", "data.image_size=28", "data.num_samples=10000", "data.val=1000"]
epochs = "train.epochs=1" if QUICK else "train.epochs=5"

# %% [markdown]
# ## Train the autoencoder with a discrete bottleneck
#
# The shipped config `mnist_vqvae`: a conv encoder down to a 7 x 7 grid of 16-dimensional vectors, an
# EMA codebook of 256 codewords, a Gaussian likelihood of variance 0.05 on grey levels.

# %%
keys = data + [epochs, "train.progress=false"] + (["data.limit=300", "data.val=100"] if QUICK else [])
cfg = vaelab.load_config("mnist_vqvae", keys)
vaelab.train(cfg, "runs/vq", overwrite=True)
model = vaelab.load("runs/vq")
held = load_dataset(cfg.data).val
x = held.images[:4].float() / 255
codes = model.encode_codes(x)  # (4, 7, 7) integers in 0..255
print("the first image as codes:\n", codes[0])

# %% [markdown]
# ## Is the whole codebook in use?
#
# A codeword no encoder output comes near is dead. Count the codes the held-out images use.

# %%
with torch.no_grad():
    used = model.encode_codes(held.images.float() / 255).unique()
print(f"{len(used)} of {cfg.model.num_codes} codes used by {len(held)} held-out images")

# %% [markdown]
# ## Random codes against a learned prior
#
# Decoding uniformly random grids gives texture: real grids are a tiny, structured subset. A
# gated PixelCNN learns p(grid) one position at a time; sampling it gives grids that decode to
# images like the data.

# %%
num_codes = cfg.model.num_codes
random_grids = torch.randint(0, num_codes, codes.shape, generator=torch.Generator().manual_seed(0))
train_prior("runs/vq", [epochs, "train.progress=false"])
model = vaelab.load("runs/vq")  # now with its prior attached
with torch.no_grad():
    pictures = torch.cat([model.decode_codes(random_grids), model.sample(4, generator=torch.Generator().manual_seed(0))])
save_grid(pictures, "vq_random_vs_prior.png", nrow=4, scale=2)
print("vq_random_vs_prior.png: top row random grids, bottom row PixelCNN samples")
