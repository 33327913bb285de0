# %% [markdown]
# # From autoencoder to VAE: watching the holes close
#
# Train a plain autoencoder and a VAE with **two-dimensional** codes, so the code space can be
# drawn, and compare where the codes of held-out images land. Then decode codes drawn from
# $\mathcal N(0, I)$ with both: the VAE was trained for that, the autoencoder was not.
# Theory: [Autoencoders and the bottleneck](../guide/autoencoders.md).

# %%
import os
from pathlib import Path

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import vaelab
from vaelab.data import load_dataset

QUICK = os.environ.get("VAELAB_TUTORIAL_QUICK") == "1"
MNIST = Path(os.environ.get("VAELAB_MNIST", "../shared/data/mnist"))
if (MNIST / "t10k-images-idx3-ubyte.gz").exists():
    data = ["data.name=mnist", f"data.root={MNIST}", "data.split=test", "data.val=1000", "data.binarize=static"]
else:
    data = ["data.name=shapes", "data.image_size=28", "data.num_samples=10000", "data.val=1000"]

# %% [markdown]
# ## Two models, one difference
#
# Same encoder and decoder (MLP, 512 hidden units, 2 latents); the autoencoder's loss is the
# reconstruction alone, the VAE's adds the KL to $\mathcal N(0, I)$ and samples its code.

# %%
def train(name: str, config: str):
    keys = data + ["model.latent_dim=2", "train.progress=false", "train.epochs=1" if QUICK else "train.epochs=10"]
    if QUICK:
        keys += ["data.limit=300", "data.val=100"]
    cfg = vaelab.load_config(config, keys)
    vaelab.train(cfg, f"runs/{name}", overwrite=True)  # a rerun starts over
    return vaelab.load(f"runs/{name}"), load_dataset(cfg.data).val


ae, held = train("ae2", "mnist_ae")
vae, _ = train("vae2", "mnist_vae_mlp")
x = held.images.float() / 255
with torch.no_grad():
    codes = {"autoencoder": ae.encode(x), "VAE": vae.encode(x)}  # (N, 2) each
for name, z in codes.items():
    print(f"{name:12s} codes: mean {z.mean(0).tolist()}, std {z.std(0).tolist()}")

# %% [markdown]
# ## Where the codes land

# %%
fig = Figure(figsize=(9, 4))
FigureCanvasAgg(fig)
for i, (name, z) in enumerate(codes.items()):
    ax = fig.add_subplot(1, 2, i + 1)
    ax.scatter(z[:, 0], z[:, 1], c=held.labels, cmap="tab10", s=4)
    ax.set_title(f"{name}: held-out codes")
fig.savefig("codes.png", dpi=80)
print("codes.png written")

# %% [markdown]
# The autoencoder's codes spread wherever the encoder put them, with empty regions between
# classes; the VAE's fill a disc about the size of the prior.
#
# ## Decoding codes from the prior
#
# Draw 8 codes from $\mathcal N(0, I)$ and decode them with both. How far is each decoded image
# from its nearest held-out image? Codes in the autoencoder's holes decode to images unlike any
# real one.

# %%
z = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
for name, model in [("autoencoder", ae), ("VAE", vae)]:
    with torch.no_grad():
        images = model.decode(z).flatten(1)  # (8, D)
    nearest = torch.cdist(images, x.flatten(1)).min(1).values  # distance to the closest real image
    print(f"{name:12s} prior samples: mean distance to the nearest held-out image {nearest.mean():.2f}")
