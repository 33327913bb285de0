"""VQ-VAE on MNIST end to end: codebook use, reconstruction, prior NLL, sampling time.

On the first 9000 images of the MNIST test split in ../shared/data/mnist (grey levels in
[0, 1], Gaussian likelihood = squared error), the last 1000 held out; K = 256 codes of
D = 16; a 7x7 code grid (two stride-2 stages, the paper's) and a 4x4 grid (three); 10
epochs, batch 100. Then a gated PixelCNN prior on each run's training codes, its NLL on
the held-out codes, and the time to sample 64 images with the prior's fast sampler and
with the plain one (a full network pass per code position).

    python benchmarks/vqvae_mnist.py [--epochs 10] [--prior-epochs 20] [--out runs/bench_vqvae]

Prints a Markdown table; the run folders stay in --out (their samples.png are the
pictures in benchmarks/figures/).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

import vaelab
from vaelab.config import compose
from vaelab.data import load_dataset
from vaelab.evaluation import bits_per_dim
from vaelab.models import config_class
from vaelab.plots.grid import save_grid
from vaelab.runs import mean_terms, train, train_prior

ROOT = Path(__file__).resolve().parents[1]
GRIDS = {"7x7": [32, 64], "4x4": [64, 128, 128]}  # conv stages: 28 -> 14 -> 7 (-> 4); wider for the 4x4 bottleneck


def timed(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--prior-epochs", type=int, default=20)
    parser.add_argument("--mnist", default=str(ROOT.parent / "shared/data/mnist"))
    parser.add_argument("--out", default=str(ROOT / "runs/bench_vqvae"))
    parser.add_argument("--grids", nargs="+", default=list(GRIDS), choices=list(GRIDS))
    args = parser.parse_args()

    rows = []
    for grid in args.grids:
        raw = {
            "data": {"name": "mnist", "root": args.mnist, "download": False, "split": "test", "val": 1000},
            "model": {"name": "vqvae", "channels": GRIDS[grid], "num_codes": 256, "code_dim": 16},
            "train": {"epochs": args.epochs, "batch_size": 100, "progress": False},
        }
        cfg = compose(raw, (), config_class)
        run = Path(args.out) / grid
        start = time.perf_counter()
        train(cfg, run, overwrite=True)
        train_seconds = time.perf_counter() - start

        model = vaelab.load(run)
        held_out = mean_terms(model, load_dataset(cfg.data).val, cfg)
        start = time.perf_counter()
        prior_run = train_prior(run, [f"train.epochs={args.prior_epochs}", "train.progress=false"])
        prior_seconds = time.perf_counter() - start
        best = min(prior_run.history, key=lambda r: r["val/nll"])  # the prior's best checkpoint, the one sampled
        nll, prior_epoch = best["val/nll"], best["epoch"]

        model = vaelab.load(run)  # now with its prior
        prior = model.prior
        g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
        fast = timed(lambda: model.sample(64, g()))
        naive = timed(lambda: model.decode_codes(prior.sample_naive(64, model.grid, generator=g())), repeats=1)
        assert torch.equal(prior.sample(64, model.grid, generator=g()), prior.sample_naive(64, model.grid, generator=g()))
        save_grid(model.sample(64, g()), run / "samples.png", nrow=8, scale=2)
        rows.append((grid, train_seconds, held_out, prior_seconds, prior_epoch, nll, bits_per_dim(nll, model.grid[0] * model.grid[1]), fast, naive))

    print(f"# VQ-VAE K=256 D=16, {args.epochs} epochs, batch 100, MNIST test split 9000 train / 1000 held out, seed 0")
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| grid | train | held-out MSE ([0,1] scale) | codebook use | perplexity | prior train | prior best epoch "
          "| prior NLL (nats/image) | bits/code | sample 64: fast | naive | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for grid, secs, h, psecs, pep, nll, bpd, fast, naive in rows:
        print(
            f"| {grid} | {secs:.0f} s | {h['mse']:.4f} | {h['usage']:.3f} | {h['perplexity']:.1f} | {psecs:.0f} s | {pep} "
            f"| {nll:.2f} | {bpd:.3f} | {fast:.2f} s | {naive:.2f} s | {naive / fast:.1f}x |"
        )


if __name__ == "__main__":
    main()
