# %% [markdown]
# # Measuring a generative model
#
# Train a small VAE and measure it the ways the guide's [evaluation page](../guide/evaluation.md)
# describes: the ELBO, the importance-weighted bound as k grows, bits per dimension, the
# active units, and the whole scorecard `vaelab evaluate` writes.

# %%
import os
from pathlib import Path

import torch

import vaelab
from vaelab.data import load_dataset
from vaelab.evaluation.latent_stats import active_units
from vaelab.evaluation.likelihood import bits_per_dim, importance_weighted_nll
from vaelab.runs import EvalOptions, evaluate_run

QUICK = os.environ.get("VAELAB_TUTORIAL_QUICK") == "1"
MNIST = Path(os.environ.get("VAELAB_MNIST", "../shared/data/mnist"))
if (MNIST / "t10k-images-idx3-ubyte.gz").exists():
    data = ["data.name=mnist", f"data.root={MNIST}", "data.split=test", "data.val=1000", "data.binarize=static"]
else:
    data = ["data.name=shapes", "data.image_size=28", "data.num_samples=10000", "data.val=1000"]
keys = data + ["train.progress=false", "train.epochs=1" if QUICK else "train.epochs=10"]
keys += ["data.limit=300", "data.val=100"] if QUICK else []
cfg = vaelab.load_config("mnist_vae_mlp", keys)
vaelab.train(cfg, "runs/measured", overwrite=True)
model = vaelab.load("runs/measured")
held = load_dataset(cfg.data).val
x = held.images[: 50 if QUICK else 500]  # uint8, already 0 or 255: data.binarize=static thresholds at load

# %% [markdown]
# ## The bound tightens with k
#
# k = 1 is the ELBO; the estimate of -log p(x) falls towards the truth as k grows. The
# images were binarized when loaded (pixels > 0.5, "static"): a Bernoulli likelihood of grey
# levels would not be a likelihood of anything. Say which binarization beside any MNIST likelihood.

# %%
for k in ([1, 10] if QUICK else [1, 10, 100, 1000]):
    nll = importance_weighted_nll(model, x, k=k, generator=torch.Generator().manual_seed(0), progress=False)
    print(f"k = {k:4d}: {nll.mean():7.2f} nats per image = {bits_per_dim(nll, x[0].numel()):.4f} bits/dim")

# %% [markdown]
# ## Active units
#
# A latent is active when its posterior mean varies with the image (variance above 0.01).

# %%
with torch.no_grad():
    means = model.encode(x.float() / 255)
count, variances = active_units(means)
print(f"{count} of {means.shape[1]} latents active; variances {variances.round(decimals=3).tolist()}")

# %% [markdown]
# ## The whole scorecard
#
# `vaelab evaluate RUN` runs every measure that applies to the model and writes
# RUN/evaluation.json.

# %%
card = evaluate_run("runs/measured", EvalOptions(k=10 if QUICK else 1000, n=len(x), samples=50 if QUICK else 1000))
print({key: value for key, value in card.items() if not isinstance(value, (dict, list))})
