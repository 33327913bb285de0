"""Data-parallel scaling on the CPU: samples/s of one process against two (torchrun, gloo),
one thread each, on the same config and the same global batch.

    python benchmarks/ddp_scaling.py [--config configs/mnist_vae_mlp.yaml] [--images 5000] [--rounds 3]

Each round trains 3 epochs once with each launch (alternating); the rate is the images
over the median epoch's train/seconds (the loop alone), as metrics.jsonl records it.
On a 2-core machine two processes can at best double the rate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rate(launch: list[str], config: str, overrides: list[str], images: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run([*launch, "-m", "vaelab", "-q", "train", config, "--out", f"{tmp}/run", *overrides],
                       env=env, check=True, capture_output=True)
        seconds = [json.loads(line)["train/seconds"] for line in Path(f"{tmp}/run/metrics.jsonl").read_text().splitlines()]
    return images / statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs/mnist_vae_mlp.yaml"))
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mnist", default=str(ROOT.parent / "shared/data/mnist"))
    args = parser.parse_args()
    overrides = [f"data.root={args.mnist}", "data.split=test", f"data.limit={args.images}", "data.val=0",
                 "data.download=false", "train.epochs=3", "train.progress=false", "train.device=cpu"]
    one, two = [], []
    for _ in range(args.rounds):
        one.append(rate([sys.executable], args.config, overrides, args.images))
        two.append(rate([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
                        args.config, overrides, args.images))
    print(f"# {Path(args.config).name}, {args.images} MNIST test images, 1 thread per process, {args.rounds} rounds")
    print("| processes | samples/s (median of rounds) | best | speed-up (medians) |")
    print("|---|---|---|---|")
    print(f"| 1 | {statistics.median(one):,.0f} | {max(one):,.0f} | 1.00 |")
    print(f"| 2 | {statistics.median(two):,.0f} | {max(two):,.0f} | {statistics.median(two) / statistics.median(one):.2f} |")


if __name__ == "__main__":
    main()
