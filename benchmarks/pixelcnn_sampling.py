"""PixelCNN sampling: `sample` (computes only what each position needs) against `sample_naive`
(one pass of the whole network over the whole grid for each of the H * W positions).

    python benchmarks/pixelcnn_sampling.py [--n 64] [--repeats 5] [--threads N]

A GatedPixelCNN over K = 256 codes with the default PixelCNNConfig (64 channels, 1 + 8
gated layers, kernel 5), untrained: the cost of sampling does not depend on the weights,
only on the shapes, so no training is needed to time it. Both samplers draw n grids of
4x4 and of 7x7 codes from the same seed; the script checks that they return the same
grids, then prints the median seconds over `repeats` runs (after one warm-up run; the
two samplers alternate, so a change in the machine's load affects both alike).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch

from vaelab.models.priors import GatedPixelCNN, PixelCNNConfig

SHAPES = [(4, 4), (7, 7)]


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64, help="grids per call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = GatedPixelCNN(256, PixelCNNConfig()).eval()
    rows, all_same = [], True
    for shape in SHAPES:
        draw = {
            "fast": lambda shape=shape: model.sample(args.n, shape, generator=torch.Generator().manual_seed(0)),
            "naive": lambda shape=shape: model.sample_naive(args.n, shape, generator=torch.Generator().manual_seed(0)),
        }
        same = torch.equal(draw["fast"](), draw["naive"]())  # doubles as the warm-up
        all_same &= same
        times: dict[str, list[float]] = {"fast": [], "naive": []}
        for _ in range(args.repeats):
            for name, fn in draw.items():
                times[name].append(seconds(fn))
        fast, naive = statistics.median(times["fast"]), statistics.median(times["naive"])
        rows.append((f"{shape[0]}x{shape[1]}", fast, naive, naive / fast, same))

    cpu = platform.processor() or platform.machine()
    print(
        f"machine: {cpu}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"n = {args.n} grids per call, K = 256, median of {args.repeats}"
    )
    print()
    print("| grid | fast `sample` (s) | `sample_naive` (s) | speed-up | same grids |")
    print("|------|------------------:|-------------------:|---------:|------------|")
    for grid, fast, naive, speedup, same in rows:
        print(f"| {grid} | {fast:.3f} | {naive:.3f} | {speedup:.1f}x | {'yes' if same else 'NO'} |")
    return 0 if all_same else 1


if __name__ == "__main__":
    sys.exit(main())
