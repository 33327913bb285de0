"""Rate against distortion: the quantizer family on MNIST, and Lloyd-Max / LBG on a
Gaussian against the bound D(R) = sigma^2 2^(-2R), in one picture (benchmarks/figures/rate_distortion.png).

MNIST: the first 9000 images of the test split in ../shared/data/mnist train, the last
1000 are held out (grey levels in [0, 1], squared error). Every run is mnist_vqvae's
network (7x7 code grid, D = 16, 10 epochs, batch 100, Adam 1e-3, seed 0 or --seed) with another
quantizer, at 4, 6 and 8 bits per position:

    ema        K = 2^b EMA codewords (today's VQ-VAE)     vq        K codewords, codebook loss
    rotation   ema with the rotation trick                cosine    K normalised codewords in 8 dims
    residual   2 stages of 2^(b/2) EMA codewords          fsq       levels [4, 4], [4, 4, 4], [8, 6, 5]
    gumbel     K codes, tau 1 -> 1/16 over the run

Rate: 49 positions x log2(codes per position) bits per image (fsq's [8, 6, 5]: 240 codes,
7.91 bits); and, with --prior-epochs,
the held-out cross-entropy of a PixelCNN prior trained on the 8-bit runs' codes (or at
--prior-at; the rate
an entropy coder driven by the prior would pay; residual codes: a PixelCNN per stage).
Distortion: held-out MSE per pixel, [0, 1] scale. Also codebook use and perplexity on the
held-out codes, and training samples per second.

    python benchmarks/rate_distortion.py [--bits 4 6 8] [--entries ...] [--prior-epochs 10] [--seed 0] [--out runs/rate_distortion]
    python benchmarks/rate_distortion.py --plot-only      # redraw from OUT/results.jsonl (prints the Gaussian curves)
    python benchmarks/rate_distortion.py --entries gumbel --bits 8 --out runs/rd_try model.quantizer.kl_weight=0   # any key=value
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch

import vaelab
from vaelab.runs.folder import compose_upgraded
from vaelab.data import load_dataset
from vaelab.evaluation import bits_per_dim
from vaelab.models.quantizers import lbg, lloyd_max
from vaelab.runs import mean_terms, train, train_prior

ROOT = Path(__file__).resolve().parents[1]
POSITIONS = 49  # the 7x7 grid


def quantizer_keys(entry: str, bits: int, steps: int) -> dict:
    """The model keys of one entry at `bits` bits per position."""
    k = 2**bits
    return {
        "ema": {"quantizer": {"name": "ema"}, "num_codes": k},
        "vq": {"quantizer": {"name": "vq"}, "num_codes": k},
        "rotation": {"quantizer": {"name": "ema", "gradient": "rotation"}, "num_codes": k},
        "cosine": {"quantizer": {"name": "cosine", "codebook_dim": 8}, "num_codes": k},
        "residual": {"quantizer": {"name": "residual", "num_quantizers": 2}, "num_codes": 2 ** (bits // 2)},
        "fsq": {"quantizer": {"name": "fsq", "levels": FSQ_LEVELS[bits]}, "num_codes": math.prod(FSQ_LEVELS[bits])},
        "gumbel": {"quantizer": {"name": "gumbel", "temperature_steps": steps}, "num_codes": k},
    }[entry]


# FSQ's levels per rate: [4, 4] and [4, 4, 4] for 4 and 6 bits; for 8, Mentzer et al.'s
# choice for about 2^8 codes, [8, 6, 5] (240 codes, 7.91 bits): [4, 4, 4, 4] (256) left
# 40% of its codes unused on held-out data, [16, 16] 6% (see BENCHMARKS.md).
FSQ_LEVELS = {2: [4], 4: [4, 4], 6: [4, 4, 4], 8: [8, 6, 5], 10: [8, 5, 5, 5]}
ENTRIES = ["ema", "vq", "rotation", "cosine", "residual", "fsq", "gumbel"]


def run_entry(entry: str, bits: int, args) -> dict:
    steps = args.epochs * 90  # 9000 images, batch 100
    raw = {
        "data": {"name": "mnist", "root": args.mnist, "download": False, "split": "test", "val": 1000},
        "model": {"name": "vqvae", "channels": [32, 64], "code_dim": 16, **quantizer_keys(entry, bits, steps)},
        "train": {"epochs": args.epochs, "batch_size": 100, "progress": False, "seed": args.seed},
    }
    cfg = compose_upgraded(raw, args.overrides)  # BENCHMARKS.md's commands name flat keys of earlier versions
    folder = Path(args.out) / f"{entry}-{bits}bit"
    start = time.perf_counter()
    train(cfg, folder, overwrite=True)
    seconds = time.perf_counter() - start
    model = vaelab.load(folder)
    held = mean_terms(model, load_dataset(cfg.data).val, cfg)
    per_position = math.log2(cfg.model.num_codes) * (cfg.model.quantizer.num_quantizers if entry == "residual" else 1)
    row = {"entry": entry, "seed": args.seed, "overrides": args.overrides, "bits_per_position": per_position, "bits_per_image": POSITIONS * per_position, "mse": held["mse"],
           "usage": held.get("usage"), "perplexity": held.get("perplexity"), "codewords": model.quantizer.num_codes,
           "samples_per_s": 9000 * args.epochs / seconds, "threads": torch.get_num_threads(),
           "machine": platform.processor() or platform.machine(), "torch": torch.__version__}
    if args.prior_epochs and bits in (args.prior_at or [max(args.bits)]):
        prior = train_prior(folder, [f"train.epochs={args.prior_epochs}", "train.progress=false"])
        nll = min(r["val/nll"] for r in prior.history)  # nats per image, the best epoch's
        row["prior_bits_per_image"] = nll / math.log(2)
        row["prior_bits_per_code"] = bits_per_dim(nll, POSITIONS)
    return row


def gaussian_curves(seed: int = 0) -> dict[str, tuple[list[float], list[float]]]:
    """Lloyd-Max on N(0, 1) at 1..5 bits and LBG on N(0, I_2) at 0.5..3 bits per dimension:
    (rates in bits per dimension, MSE per dimension), on fresh samples from the same source."""
    g = torch.Generator().manual_seed(seed)
    design, test = torch.randn(200_000, generator=g), torch.randn(200_000, generator=g)
    scalar = [lloyd_max(design, 2**r).levels for r in range(1, 6)]
    scalar_mse = [float((test[:, None] - lv).pow(2).min(1).values.mean()) for lv in scalar]
    design2, test2 = torch.randn(20_000, 2, generator=g), torch.randn(20_000, 2, generator=g)
    rates2 = [0.5 * b for b in range(1, 7)]  # k = 2^(2R) codewords for 2 dimensions
    books = [lbg(design2, 2 ** int(2 * r), generator=g).codebook for r in rates2]
    vector_mse = [float(torch.cdist(test2, c).pow(2).min(1).values.mean() / 2) for c in books]
    return {"Lloyd-Max, 1-D": (list(range(1, 6)), scalar_mse), "LBG, 2-D": (rates2, vector_mse)}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    for entry in ENTRIES:
        mine = sorted((r for r in rows if r["entry"] == entry), key=lambda r: r["bits_per_image"])
        if not mine:
            continue
        line, = left.plot([r["bits_per_image"] for r in mine], [r["mse"] for r in mine], "o-", label=entry)
        for r in mine:
            if "prior_bits_per_image" in r:  # what a prior-driven entropy coder would pay
                left.plot(r["prior_bits_per_image"], r["mse"], "o", mfc="none", color=line.get_color())
    left.set(xlabel="rate, bits per image (filled: 49 log2 codes; hollow: PixelCNN prior cross-entropy)",
             ylabel="held-out MSE per pixel ([0, 1] scale)", yscale="log", title="Quantizers in a VQ-VAE, MNIST 7x7 grid")
    left.legend(fontsize=8)
    curves = gaussian_curves()
    for name, (rates, mse) in curves.items():
        right.plot(rates, mse, "o-", label=name)
        gaps = ", ".join(f"{r} bits: {m:.4f} ({10 * math.log10(m / 2 ** (-2 * r)):.2f} dB)" for r, m in zip(rates, mse))
        print(f"# {name}, MSE per dimension and its distance above D(R): {gaps}")
    rates = torch.linspace(0.25, 5, 100)
    right.plot(rates, 2 ** (-2 * rates), "k--", label="D(R) = sigma^2 2^(-2R)")
    right.set(xlabel="rate, bits per dimension", ylabel="MSE per dimension (sigma = 1)", yscale="log",
              title="Gaussian source: quantizers against the bound")
    right.legend(fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", nargs="+", default=ENTRIES, choices=ENTRIES)
    parser.add_argument("--bits", nargs="+", type=int, default=[4, 6, 8], choices=[2, 4, 6, 8, 10])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--prior-epochs", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prior-at", nargs="+", type=int, help="bits per position whose runs get a prior (default: the largest)")
    parser.add_argument("--mnist", default=str(ROOT.parent / "shared/data/mnist"))
    parser.add_argument("--out", default=str(ROOT / "runs/rate_distortion"))
    parser.add_argument("--figure", default=str(ROOT / "benchmarks/figures/rate_distortion.png"))
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument("overrides", nargs="*", help="extra key=value for every run (e.g. model.quantizer.kl_weight=0)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.plot_only:
        print("| quantizer | bits/position | bits/image | held-out MSE | use | perplexity | codewords | samples/s | prior bits/image |")
        print("|---|---|---|---|---|---|---|---|---|")
        for bits in args.bits:
            for entry in args.entries:
                r = run_entry(entry, bits, args)
                with open(out / "results.jsonl", "a") as f:
                    f.write(json.dumps(r) + "\n")
                prior = f"{r['prior_bits_per_image']:.0f}" if "prior_bits_per_image" in r else "-"
                print(f"| {entry} | {r['bits_per_position']:.2f} | {r['bits_per_image']:.0f} | {r['mse']:.4f} | {r['usage']:.3f} | {r['perplexity']:.1f} "
                      f"| {r['codewords']} | {r['samples_per_s']:.0f} | {prior} |", flush=True)
    rows = [json.loads(line) for line in open(out / "results.jsonl")]
    plot(rows, Path(args.figure))


if __name__ == "__main__":
    main()
