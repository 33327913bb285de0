"""How close a training step comes to the machine's practical ceiling.

For each shipped MNIST model: the FLOPs of one training step (forward and backward,
counted by torch.utils.flop_counter: matrix products and convolutions, 2 FLOPs per
multiply-add; elementwise work is not counted), its median time over `--steps` steps of
vaelab's training step (batch 100, fused Adam), and the achieved FLOP/s as a fraction of
a large float32 matrix product (2048 x 2048 by 2048 x 2048) timed in the same run: the
practical ceiling of this device and thread count.

    python benchmarks/flops.py [--threads 1] [--steps 30]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from vaelab.models import build_model
from vaelab.runs import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ["mnist_vae_mlp", "mnist_vae_conv", "mnist_vqvae"]


def matmul_ceiling(repeats: int = 10, n: int = 2048) -> float:
    """FLOP/s of an n x n float32 matrix product (best of `repeats`)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def step_flops_and_seconds(name: str, steps: int) -> tuple[float, float]:
    cfg = load_config(ROOT / "configs" / f"{name}.yaml")
    torch.manual_seed(0)
    model = build_model(cfg.model, (1, 28, 28)).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    x = (torch.rand(100, 1, 28, 28) > 0.5).float()

    def step():
        loss = model(x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up (and a VQ-VAE's k-means initialisation)
    with FlopCounterMode(display=False) as counter:
        model(x).loss.backward()
    return counter.get_total_flops(), statistics.median(_timed(step) for _ in range(steps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ceiling = matmul_ceiling()
    print(f"# {platform.machine()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}; "
          f"float32 matmul ceiling {ceiling / 1e9:.1f} GFLOP/s; batch 100, median of {args.steps} steps")
    print("| model | GFLOP per step | ms per step | GFLOP/s | fraction of the matmul ceiling |")
    print("|---|---|---|---|---|")
    for name in CONFIGS:
        flops, seconds = step_flops_and_seconds(name, args.steps)
        print(f"| {name} | {flops / 1e9:.2f} | {seconds * 1e3:.1f} | {flops / seconds / 1e9:.1f} | "
              f"{flops / seconds / ceiling:.2f} |", flush=True)


if __name__ == "__main__":
    main()
