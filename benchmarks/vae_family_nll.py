"""Held-out IS-NLL of the VAE family on MNIST, static binarization (issue 11's table).

Each entry trains a shipped config on the first 9000 images of ../shared/data/mnist (the
test split; the last 1000 held out) with data.binarize=static (pixel > 0.5), then scores
the 1000 held-out digits by the importance-weighted bound with k samples:

    static   the same thresholded digits the model trained on (the main figure)
    dynamic  the same weights on the held-out digits binarized by one seeded Bernoulli
             draw (seed 0): a different, noisier data set, about 12 nats worse

and the -ELBO (one posterior sample, seeded; the KL in closed form for N(0, I), by one
sample otherwise). Results go to OUT/results.jsonl (one line per run, appended) and a
table is printed.

    python benchmarks/vae_family_nll.py --entries vae iwae5 --seeds 0 1 2 [--k 1000] [--out runs/family]
"""

from __future__ import annotations

import argparse
import json
import platform
from dataclasses import replace
from pathlib import Path

import torch

import vaelab
from vaelab.data import load_dataset, to_float
from vaelab.evaluation import elbo_terms, importance_weighted_nll
from vaelab.training.checkpoint import read_jsonl

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = {  # name: (config, overrides)
    "vae": ("mnist_vae_mlp", []),
    "iwae5": ("mnist_iwae", []),
    "iwae50": ("mnist_iwae", ["model.iw_samples=50"]),
    "vamp": ("mnist_vamp", []),
    "hvae": ("mnist_hvae", []),
    "vamp-iwae5": ("mnist_vamp", ["model.iw_samples=5"]),
    "hvae-iwae5": ("mnist_hvae", ["model.iw_samples=5", "model.warmup_steps=0"]),
    "vamp-iwae5-100ep": ("mnist_vamp", ["model.iw_samples=5", "train.epochs=100"]),
    "hvae-iwae5-100ep": ("mnist_hvae", ["model.iw_samples=5", "model.warmup_steps=0", "train.epochs=100"]),
    "hvae-100ep": ("mnist_hvae", ["train.epochs=100"]),
    "hvae-300ep": ("mnist_hvae", ["train.epochs=300"]),
    "hvae-fb": ("mnist_hvae", ["model.free_bits=0.25", "train.epochs=60"]),
}


def run_entry(name: str, seed: int, k: int, out: Path, mnist: str, extra: list[str]) -> dict:
    config, overrides = ENTRIES[name]
    data_keys = [f"data.root={mnist}", "data.split=test", "data.val=1000", "data.download=false", "data.binarize=static"]
    cfg = vaelab.load_config(ROOT / f"configs/{config}.yaml",
                             data_keys + overrides + extra + [f"train.seed={seed}", "train.progress=false"])
    folder = out / f"{name}-seed{seed}"
    vaelab.train(cfg, folder, overwrite=True)
    model = vaelab.load(folder)
    held = load_dataset(cfg.data).val  # thresholded at load time (static)
    grey = load_dataset(replace(cfg.data, binarize="none")).val  # the same digits in grey levels
    nll = {}
    for binarize, images in (("static", held.images), ("dynamic", grey.images)):
        x = to_float(images, binarize, torch.Generator().manual_seed(0))
        gen = torch.Generator().manual_seed(seed)
        nll[binarize] = float(importance_weighted_nll(model, x, k=k, generator=gen, progress=False).mean())
    terms = elbo_terms(model, held, binarize="static", seed=seed)
    seconds = sum(r["train/seconds"] for r in read_jsonl(folder / "metrics.jsonl"))
    return {"entry": name, "seed": seed, "config": config, "overrides": overrides + extra, "epochs": cfg.train.epochs,
            "train_seconds": seconds, "k": k, "is_nll_static": nll["static"], "is_nll_dynamic": nll["dynamic"],
            "nelbo_static": terms["nelbo"], "kl_estimate": terms["kl_estimate"], "threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(), "torch": torch.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", nargs="+", default=list(ENTRIES), choices=list(ENTRIES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--out", default=str(ROOT / "runs/family"))
    parser.add_argument("--mnist", default=str(ROOT.parent / "shared/data/mnist"))
    parser.add_argument("overrides", nargs="*", help="extra key=value for every entry")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("| entry | seed | epochs | train s | IS-NLL static | IS-NLL dynamic | -ELBO static |")
    print("|---|---|---|---|---|---|---|")
    for name in args.entries:
        for seed in args.seeds:
            r = run_entry(name, seed, args.k, out, args.mnist, args.overrides)
            with open(out / "results.jsonl", "a") as f:
                f.write(json.dumps(r) + "\n")
            print(f"| {name} | {seed} | {r['epochs']} | {r['train_seconds']:.0f} | {r['is_nll_static']:.2f} | "
                  f"{r['is_nll_dynamic']:.2f} | {r['nelbo_static']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
