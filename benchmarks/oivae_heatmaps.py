"""The oi-VAE's latent x group heatmaps in benchmarks/figures/: on synthetic grouped data whose support is
known (vaelab.data.grouped, 2000 observations, 4 groups of 5 values) and on MNIST cut into
sixteen 7x7 patches (configs/mnist_oivae.yaml, the first 9000 digits of
../shared/data/mnist, dynamic binarization). Prints the connections left on and the
held-out terms.

    python benchmarks/oivae_heatmaps.py [--epochs 30] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import vaelab
from vaelab.config import TrainConfig
from vaelab.data.grouped import SUPPORT, grouped_synthetic
from vaelab.models import build_model
from vaelab.models.oivae import OIVAEConfig
from vaelab.plots.groups import save_group_heatmap
from vaelab.training import fit, tensor_epochs

ROOT = Path(__file__).resolve().parents[1]


def on(norms: torch.Tensor) -> torch.Tensor:
    """Connections switched on: norms above a tenth of the largest, [K, G] bool."""
    return norms / norms.max() > 0.1


def synthetic(seed: int, out: Path) -> None:
    torch.manual_seed(seed)
    cfg = OIVAEConfig(hidden=[64], latent_dim=4, groups="columns", group_sizes=[5] * 4, group_hidden=32, lasso=5.0,
                      likelihood="gaussian", variance=0.01)
    model = build_model(cfg, (1, 1, 20))
    fit(model, TrainConfig(epochs=60, batch_size=100, lr=3e-3, progress=False, seed=seed), out / "oivae_synthetic",
        tensor_epochs(grouped_synthetic(2000), None, 100), None, config={}, meta={"model": "oi-vae"})
    save_group_heatmap(model, ROOT / "benchmarks/figures/oivae_synthetic.png")
    print(f"synthetic: true support (factor x group) {list(SUPPORT)}")
    print(f"synthetic: learned (latent x group, on = norm > max/10) {on(model.latent_group_norms()).int().tolist()}")


def mnist(seed: int, epochs: int, out: Path) -> None:
    keys = [f"data.root={ROOT.parent / 'shared/data/mnist'}", "data.split=test", "data.val=1000", "data.download=false",
            f"train.epochs={epochs}", f"train.seed={seed}", "train.progress=false"]
    result = vaelab.train(vaelab.load_config(ROOT / "configs/mnist_oivae.yaml", keys), out / "mnist_oivae", overwrite=True)
    save_group_heatmap(result.model, ROOT / "benchmarks/figures/oivae_mnist.png")
    norms = result.model.latent_group_norms()
    last = result.history[-1]
    print(f"mnist: {int(on(norms).sum())} of {norms.numel()} latent-to-patch connections on; "
          f"latents in use {int(on(norms).any(1).sum())} of {norms.shape[0]}; held-out -ELBO {last['val/loss']:.2f} "
          f"= recon {last['val/recon']:.2f} + KL {last['val/kl']:.2f} (nats, dynamic binarization)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "runs"))
    args = parser.parse_args()
    synthetic(args.seed, Path(args.out))
    mnist(args.seed, args.epochs, Path(args.out))


if __name__ == "__main__":
    main()
