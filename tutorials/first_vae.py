# %% [markdown]
# # Your first VAE in 5 minutes
#
# Train a variational autoencoder, look at what it reconstructs and what it samples, and read
# its loss in nats. Everything here runs on a laptop CPU. The data is MNIST when its files are
# on this machine (set `VAELAB_MNIST` to their folder), else vaelab's generated shapes, which
# need no download. The theory is on the guide's [VAE page](../guide/vae.md).

# %%
import os
from pathlib import Path

import torch

import vaelab
from vaelab.data import load_dataset
from vaelab.plots.grid import save_grid

QUICK = os.environ.get("VAELAB_TUTORIAL_QUICK") == "1"  # the test suite runs this script on tiny settings
MNIST = Path(os.environ.get("VAELAB_MNIST", "../shared/data/mnist"))
if (MNIST / "t10k-images-idx3-ubyte.gz").exists():
    # MNIST's test split: the first 9000 digits to train on, the last 1000 held out
    data = ["data.name=mnist", f"data.root={MNIST}", "data.split=test", "data.val=1000", "data.binarize=dynamic"]
else:
    data = ["data.name=shapes", "data.image_size=28", "data.num_samples=10000", "data.val=1000"]
print("data:", data[0])

# %% [markdown]
# ## A config, and one line to train
#
# A run is described by a config: the data, the model and how to train. Here it is the
# shipped config `mnist_vae_mlp`, found by name (an MLP encoder 784-512-16 and its mirror as
# decoder, a Bernoulli likelihood; `vaelab configs` lists them all), with keys overridden
# the way the command line does it.

# %%
keys = data + ["train.epochs=1" if QUICK else "train.epochs=10", "train.progress=false"]
if QUICK:
    keys += ["data.limit=300", "data.val=100"]
cfg = vaelab.load_config("mnist_vae_mlp", keys)  # a shipped config, by name
result = vaelab.train(cfg, "runs/first_vae", overwrite=True)
last = result.history[-1]
print(f"held-out loss after {last['epoch']} epochs: {last['val/loss']:.1f} nats per image "
      f"= reconstruction {last['val/recon']:.1f} + KL {last['val/kl']:.1f}")

# %% [markdown]
# The loss is the negative ELBO: the reconstruction term (how many nats the decoder needs to
# describe the image given the code) plus the KL (how many nats the code costs against the
# prior). Its sum bounds $-\log p(x)$ from above.
#
# ## Reconstructions and samples

# %%
model = vaelab.load("runs/first_vae")
held = load_dataset(cfg.data).val
x = held.images[:8].float() / 255
with torch.no_grad():
    recon = model.reconstruct(x)
    samples = model.sample(8, generator=torch.Generator().manual_seed(0))
save_grid(torch.cat([x, recon, samples]), "first_vae.png", nrow=8, scale=2)
print("first_vae.png: held-out images, their reconstructions, and samples from the prior")

# %% [markdown]
# The samples are blurrier than the reconstructions: a prior sample lands where the posteriors of
# several images overlap, and the decoder draws their average. The guide's VAE page explains why,
# and what to do about it.
#
# The same from the command line:
#
#     vaelab train mnist_vae_mlp --out runs/first_vae
#     vaelab sample runs/first_vae -n 16
#     vaelab report runs/first_vae
