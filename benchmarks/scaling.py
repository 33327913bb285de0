"""How the cost grows: samples/s against batch size, epoch time against dataset size, and
peak resident memory of `vaelab train` and `vaelab evaluate` against dataset size.

    python benchmarks/scaling.py [--threads 1] [--mnist ../shared/data/mnist]

Samples/s: vaelab's training step (fused Adam) on random binary 28x28 images, median of
20 steps after 3 warm-up steps, for the MLP and the conv VAE of the shipped configs.
Epoch time: `vaelab.runs.train` for one epoch on the first N MNIST test images (its
train/seconds). Peak memory: each command in a fresh process (VmHWM, Linux), for the
quickstart config (MLP VAE on generated 64x64 shapes: 4 KiB an image as uint8) at
`SHAPES` images, held out 1000.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from vaelab.data import load_dataset
from vaelab.models import build_model
from vaelab.runs import load_config, train

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["mnist_vae_mlp", "mnist_vae_conv"]
BATCHES = [32, 64, 128, 256, 512, 1024]
SIZES = [1000, 2000, 4000, 8000]
SHAPES = [5000, 20000, 80000]


def samples_per_second(name: str, batch: int) -> float:
    torch.manual_seed(0)
    model = build_model(load_config(ROOT / "configs" / f"{name}.yaml").model, (1, 28, 28)).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    x = (torch.rand(batch, 1, 28, 28) > 0.5).float()
    times = []
    for i in range(23):
        start = time.perf_counter()
        loss = model(x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times[3:])


def epoch_seconds(name: str, images: int, mnist: str) -> float:
    overrides = [f"data.root={mnist}", "data.split=test", f"data.limit={images}", "data.val=0", "data.download=false",
                 "train.epochs=1", "train.progress=false", "train.device=cpu"]
    cfg = load_config(ROOT / "configs" / f"{name}.yaml", overrides)
    with tempfile.TemporaryDirectory() as run:
        return train(cfg, run, data=load_dataset(cfg.data)).history[0]["train/seconds"]


def peak_memory_mb(argv: list[str], threads: int) -> float:
    """Peak resident memory of `vaelab argv` run in a fresh process, in MiB: VmHWM of
    /proc/self/status (Linux), which starts afresh at exec; ru_maxrss would carry over the
    resident size of this (forking) process."""
    code = ("import re, sys; from vaelab.cli import main; status = main(sys.argv[1:]); "
            "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)); sys.exit(status)")
    env = {"OMP_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code, "-q", *argv], capture_output=True, text=True, env=env, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024  # Linux reports KiB


def memory_rows(threads: int) -> list[tuple[int, float, float]]:
    rows = []
    for images in SHAPES:
        with tempfile.TemporaryDirectory() as tmp:
            run = f"{tmp}/run"
            data = [f"data.num_samples={images}", "data.val=1000", "train.epochs=1", "train.progress=false"]
            trained = peak_memory_mb(["train", str(ROOT / "configs/quickstart.yaml"), "--out", run, *data], threads)
            evaluated = peak_memory_mb(["evaluate", run, "-n", "1000", "--k", "100", "--samples", "1000"], threads)
            rows.append((images, trained, evaluated))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mnist", default=str(ROOT.parent / "shared/data/mnist"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# {platform.machine()}, {torch.get_num_threads()} thread(s), torch {torch.__version__}")
    print("| batch | " + " | ".join(f"{m} samples/s" for m in MODELS) + " |")
    print("|---|" + "---|" * len(MODELS))
    for batch in BATCHES:
        print(f"| {batch} | " + " | ".join(f"{samples_per_second(m, batch):,.0f}" for m in MODELS) + " |", flush=True)
    print("\n| images | " + " | ".join(f"{m} epoch s" for m in MODELS) + " |")
    print("|---|" + "---|" * len(MODELS))
    for images in SIZES:
        print(f"| {images} | " + " | ".join(f"{epoch_seconds(m, images, args.mnist):.2f}" for m in MODELS) + " |", flush=True)
    print("\n| shapes images (64x64) | peak RSS, vaelab train (MiB) | peak RSS, vaelab evaluate (MiB) |")
    print("|---|---|---|")
    for images, trained, evaluated in memory_rows(args.threads):
        print(f"| {images} | {trained:.0f} | {evaluated:.0f} |", flush=True)


if __name__ == "__main__":
    main()
