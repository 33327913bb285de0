"""Importance-weighted NLL: how long k = 500 takes for 1000 MNIST images.

The MLP VAE 784-512-16 of configs/mnist_vae_mlp.yaml, trained on the first 9000 images of
../shared/data/mnist (trained here first, 30 epochs, if RUN does not exist yet); the
estimate runs on the last 1000 (dynamically binarized with a fixed seed, as in
`vaelab evaluate`).

    python benchmarks/is_nll.py [--run runs/mnist_vae_mlp] [--k 500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

import vaelab
from vaelab.data import load_dataset, to_float
from vaelab.evaluation import bits_per_dim, importance_weighted_nll

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=str(ROOT / "runs/mnist_vae_mlp"))
    parser.add_argument("--k", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mnist", default=str(ROOT.parent / "shared/data/mnist"))
    args = parser.parse_args()
    overrides = [f"data.root={args.mnist}", "data.split=test", "data.val=1000", "data.download=false"]
    if not (Path(args.run) / "best.safetensors").exists():
        vaelab.train(vaelab.load_config(ROOT / "configs/mnist_vae_mlp.yaml", overrides + ["train.progress=false"]), args.run)
    model = vaelab.load(args.run)
    data = load_dataset(vaelab.run_config(args.run).data).val
    x = to_float(data.images, "dynamic", torch.Generator().manual_seed(0))

    times, nll = [], None
    for _ in range(args.repeats):
        start = time.perf_counter()
        nll = importance_weighted_nll(model, x, k=args.k, generator=torch.Generator().manual_seed(0), progress=False).mean()
        times.append(time.perf_counter() - start)
    print(f"# IS-NLL, k={args.k}, {len(x)} held-out MNIST images, MLP VAE 784-512-16 ({args.run})")
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| images | k | seconds (median of %d) | IS-NLL (nats/image) | bits/dim |" % args.repeats)
    print("|---|---|---|---|---|")
    print(f"| {len(x)} | {args.k} | {statistics.median(times):.2f} | {float(nll):.2f} | {bits_per_dim(nll, 784):.4f} |")


if __name__ == "__main__":
    main()
