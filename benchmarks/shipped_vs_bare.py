"""Each shipped MNIST config: vaelab's trainer against a bare loop doing the same arithmetic.

The bare loop drives the very module the config builds (same network, same loss, same
fused Adam, same batch size and binarization) over a float copy of the same images:
shuffle, index, (Bernoulli draw for dynamic binarization), forward, backward, step. The
vaelab side is `vaelab.runs.train` for one epoch; its `train/seconds` (the loop, without
setup, validation or checkpoints) is compared. The two sides alternate, one epoch each,
for `--rounds` rounds; the table gives the median and the best of the per-round ratios
(vaelab samples/s over bare samples/s) and the median rates.

    python benchmarks/shipped_vs_bare.py [--images 2000] [--rounds 5] [--threads 1]

Data: the first `--images` images of the MNIST test split in ../shared/data/mnist, none
held out. One thread by default: this machine is shared, and with two threads under load
PyTorch can slow by 10x or more.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from vaelab.data import load_dataset, to_float
from vaelab.models import build_model
from vaelab.runs import load_config, train

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ["mnist_vae_mlp", "mnist_vae_conv", "mnist_vqvae"]


def bare_epoch(cfg, x: torch.Tensor, shape, seed: int) -> float:
    """Seconds of one epoch of the plainest loop over the config's own module."""
    torch.manual_seed(seed)
    model = build_model(cfg.model, shape).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, fused=True)
    dynamic, b = cfg.data.binarize == "dynamic", cfg.train.batch_size
    start = time.perf_counter()
    order = torch.randperm(len(x))
    for i in range(0, len(x), b):
        xb = x[order[i : i + b]]
        loss = model(torch.bernoulli(xb) if dynamic else xb).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def vaelab_epoch(cfg, data, seed: int) -> float:
    with tempfile.TemporaryDirectory() as run:
        return train(cfg, run, data=data).history[0]["train/seconds"]


def measure(name: str, args) -> tuple[str, list[float], float, float]:
    overrides = [f"data.root={args.mnist}", "data.split=test", f"data.limit={args.images}", "data.val=0",
                 "data.download=false", "train.epochs=1", "train.progress=false", "train.device=cpu"]
    cfg = load_config(ROOT / "configs" / f"{name}.yaml", overrides)
    data = load_dataset(cfg.data)
    x = to_float(data.train.images)  # the bare loop's copy: float [N, 1, 28, 28] in [0, 1]
    bare_epoch(cfg, x, data.train.shape, 0)  # warm-up, both sides
    vaelab_epoch(cfg, data, 0)
    ratios, bare, ours = [], [], []
    for r in range(args.rounds):
        bare.append(bare_epoch(cfg, x, data.train.shape, r))
        ours.append(vaelab_epoch(cfg, data, r))
        ratios.append(bare[-1] / ours[-1])  # = vaelab samples/s over bare samples/s
    n = len(x)
    return name, ratios, n / statistics.median(bare), n / statistics.median(ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mnist", default=str(ROOT.parent / "shared/data/mnist"))
    parser.add_argument("--configs", nargs="*", default=CONFIGS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# {args.images} MNIST test images, {args.rounds} alternating rounds of one epoch, "
          f"{torch.get_num_threads()} thread(s), {platform.machine()}, torch {torch.__version__}")
    print("| config | bare samples/s | vaelab samples/s | vaelab / bare, median | best |")
    print("|---|---|---|---|---|")
    for name in args.configs:
        name, ratios, bare, ours = measure(name, args)
        print(f"| {name} | {bare:,.0f} | {ours:,.0f} | {statistics.median(ratios):.3f} | {max(ratios):.3f} |", flush=True)


if __name__ == "__main__":
    main()
