"""VQ-VAE-2 on MNIST end to end: reconstruction, both levels' codebook use, the two-level
prior's held-out NLL (top and bottom parts), and samples (benchmarks/figures/vqvae2_samples.png).

configs/mnist_vqvae2.yaml (a 4x4 top grid over a 7x7 bottom grid, 256 EMA codes of
D = 16 each) on the first 9000 images of the MNIST test split in ../shared/data/mnist,
the last 1000 held out, --epochs epochs (batch 100, seed 0); then its prior (two gated
PixelCNNs, 64 channels, 8 layers) for --prior-epochs epochs, the best epoch on held-out
codes kept.

    python benchmarks/vqvae2_mnist.py [--epochs 10] [--prior-epochs 10] [--out runs/bench_vqvae2]
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

import torch

import vaelab
from vaelab.data import load_dataset
from vaelab.evaluation import code_grids
from vaelab.plots.grid import save_grid
from vaelab.runs import mean_terms, train, train_prior

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--prior-epochs", type=int, default=10)
    parser.add_argument("--mnist", default=str(ROOT.parent / "shared/data/mnist"))
    parser.add_argument("--out", default=str(ROOT / "runs/bench_vqvae2"))
    parser.add_argument("--figure", default=str(ROOT / "benchmarks/figures/vqvae2_samples.png"))
    args = parser.parse_args()
    cfg = vaelab.load_config(ROOT / "configs/mnist_vqvae2.yaml",
                             [f"data.root={args.mnist}", "data.split=test", "data.val=1000", "data.download=false",
                              f"train.epochs={args.epochs}", "train.progress=false", "train.seed=0"])
    run = Path(args.out)
    start = time.perf_counter()
    train(cfg, run, overwrite=True)
    train_seconds = time.perf_counter() - start
    held_out = load_dataset(cfg.data).val
    terms = mean_terms(vaelab.load(run), held_out, cfg)
    start = time.perf_counter()
    train_prior(run, [f"train.epochs={args.prior_epochs}", "train.progress=false"])
    prior_seconds = time.perf_counter() - start
    model = vaelab.load(run)
    codes = code_grids(model, held_out.images)
    with torch.no_grad():
        top, bottom = (-part.mean().item() for part in model.prior.level_log_probs(codes.to(model.device)))
    start = time.perf_counter()
    samples = model.sample(64, torch.Generator().manual_seed(0))
    sample_seconds = time.perf_counter() - start
    save_grid(samples, args.figure, nrow=8, scale=2)
    print(f"# VQ-VAE-2, {args.epochs} epochs, prior {args.prior_epochs} epochs; MNIST test split 9000 / 1000; seed 0")
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"train {train_seconds:.0f} s, prior {prior_seconds:.0f} s, 64 samples {sample_seconds:.2f} s")
    print(f"held-out MSE per pixel ([0, 1]) {terms['mse']:.4f}; usage top {terms['top_usage']:.3f} "
          f"(perplexity {terms['top_perplexity']:.1f}), bottom {terms['bottom_usage']:.3f} "
          f"(perplexity {terms['bottom_perplexity']:.1f})")
    print(f"prior NLL on held-out codes: top {top:.2f} + bottom {bottom:.2f} = {top + bottom:.2f} nats per image "
          f"= {(top + bottom) / math.log(2):.0f} bits ({(top + bottom) / math.log(2) / 65:.3f} bits per code)")


if __name__ == "__main__":
    main()
