"""Trainer overhead: vaelab's trainer against a bare PyTorch loop, same model, same data.

MLP VAE 784-512-16, Bernoulli likelihood (BCE), Adam 1e-3, batch 100, on the first 9000
images of the MNIST test split in ../shared/data/mnist (static binarization). Both run
in this one process, interleaved, and the table gives the median over repeats.

    python benchmarks/trainer_overhead.py [--repeats 5] [--epochs 2] [--mnist ../shared/data/mnist]

vaelab's trainer uses PyTorch's fused Adam, so the reference row is the bare loop with
the same optimizer; the bare loop with the default (for-loop) Adam is shown too, and the
bare loop driving vaelab's own VAE module, which separates the cost of the trainer from
that of the model code (its module calls, per-example terms, named loss terms).
Rows: `loop` is the time inside the training loop of an epoch (what train/seconds in
metrics.jsonl records); `epoch` adds what vaelab does once an epoch (checkpoint, metrics
line). Neither counts one-time setup (building the model), as for the bare loop.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vaelab.config import DataConfig, compose
from vaelab.data import load_dataset, to_float
from vaelab.models import VAE, VAEConfig, config_class
from vaelab.runs import train

ROOT = Path(__file__).resolve().parents[1]


class BareVAE(nn.Module):
    """The model as one would write it by hand (pytorch/examples style)."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc_mu, self.fc_logvar = nn.Linear(784, 512), nn.Linear(512, 16), nn.Linear(512, 16)
        self.fc3, self.fc4 = nn.Linear(16, 512), nn.Linear(512, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x))
        mu, logvar = self.fc_mu(h), self.fc_logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.fc4(F.relu(self.fc3(z)))
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()
        return (recon + kl) / len(x)


class VaelabModule(nn.Module):
    """vaelab's own VAE module behind the bare loop's call convention (x [B, 784] -> loss)."""

    def __init__(self):
        super().__init__()
        self.vae = VAE(VAEConfig(hidden=[512], latent_dim=16), (1, 28, 28))

    def forward(self, x):
        return self.vae(x.view(-1, 1, 28, 28)).loss


def bare_loop(x: torch.Tensor, epochs: int, batch_size: int = 100, fused: bool | None = None, module=BareVAE) -> list[float]:
    """Seconds per epoch of the plainest loop: shuffle, index, forward, backward, step."""
    torch.manual_seed(0)
    model = module()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x))
        for i in range(0, len(x), batch_size):
            loss = model(x[order[i : i + batch_size]])
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    return times


def vaelab_trainer(data, epochs: int) -> tuple[list[float], float]:
    """(loop seconds per epoch, whole train() call seconds / epochs)."""
    overrides = [
        "model.hidden=[512]", "model.latent_dim=16", "model.likelihood=bernoulli",
        "train.batch_size=100", "train.lr=1e-3", f"train.epochs={epochs}", "train.device=cpu",
    ]  # fmt: skip
    cfg = compose({"data": {"name": "mnist", "binarize": "static", "val": 0}}, overrides, config_class)
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.perf_counter()
        result = train(cfg, run_dir, data=data)
        whole = time.perf_counter() - start
    return [r["train/seconds"] for r in result.history], whole


def vaelab_epochs(data, epochs: int) -> tuple[list[float], float]:
    """(loop seconds of each epoch, seconds per epoch with the once-an-epoch work).

    The second excludes the one-time work of a train() call (building the model, the
    first and last checkpoints, the final pictures), as the bare loop's timing excludes
    building its model: it is (time of train() for `epochs` epochs - time of train() for
    1 epoch) / (epochs - 1). A run has at least one epoch, so `epochs` must be >= 2.
    """
    loops, whole = vaelab_trainer(data, epochs)
    _, one = vaelab_trainer(data, 1)
    return loops, (whole - one) / (epochs - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--mnist", default=str(ROOT.parent / "shared/data/mnist"))
    args = parser.parse_args()

    data_cfg = DataConfig(name="mnist", root=args.mnist, download=False, split="test", limit=9000, val=0, binarize="static")
    data = load_dataset(data_cfg)
    x = to_float(data.train.images).flatten(1)  # the bare loop gets the same pixels, as float [9000, 784]
    n = len(x)

    bare, bare_fused, bare_module, ours_loop, ours_epoch = [], [], [], [], []
    bare_loop(x, 1)  # warm-up (allocator, first-call costs) for both
    vaelab_trainer(data, 1)
    for _ in range(args.repeats):
        bare += bare_loop(x, args.epochs)
        bare_fused += bare_loop(x, args.epochs, fused=True)
        bare_module += bare_loop(x, args.epochs, fused=True, module=VaelabModule)
        loop, epoch = vaelab_epochs(data, args.epochs)
        ours_loop += loop
        ours_epoch.append(epoch)

    rate = lambda seconds: n / statistics.median(seconds)  # noqa: E731
    print(f"# MLP VAE 784-512-16, batch 100, Adam 1e-3, {n} MNIST test images (static binarization)")
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"{args.repeats} repeats x {args.epochs} epochs, medians")  # fmt: skip
    print(f"| {'loop':<28} | {'samples/s':>10} | {'vs bare fused':>13} |")
    print(f"|{'-' * 30}|{'-' * 12}|{'-' * 15}|")
    rows = [
        ("bare loop, fused Adam", rate(bare_fused)),
        ("bare loop, default Adam", rate(bare)),
        ("bare loop, vaelab's VAE", rate(bare_module)),
        ("vaelab trainer (loop)", rate(ours_loop)),
        ("vaelab trainer (epoch+ckpt)", rate(ours_epoch)),
    ]
    for name, r in rows:
        print(f"| {name:<28} | {r:>10,.0f} | {r / rows[0][1]:>13.3f} |")


if __name__ == "__main__":
    main()
