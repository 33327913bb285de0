"""Sharper reconstructions: held-out MSE and Frechet distance of a VQ-VAE and a VAE trained
with and without the perceptual and adversarial losses (models/sharpness.py).

MNIST, the shared test split in ../shared/data/mnist: the first 9000 images train, the
last 1000 are held out (grey levels in [0, 1]). Two SmallCNN classifiers are trained on
the 9000 first: seed 1's features are the perceptual loss, seed 0's the Frechet distance
(a loss and its judge should not be the same network). Each entry is the shipped config
(mnist_vqvae: Gaussian squared error, c = 0.05; mnist_vae_conv, here on grey levels:
data.binarize=none, cross-entropy against them) for --epochs epochs, seed 0, plus

    perceptual   model.perceptual_weight=W_P (seed 1's classifier)
    adversarial  model.adversarial_weight=W_A, the critic starting halfway through training
    both         the two together

Scores on the held-out 1000: MSE per pixel ([0, 1] scale) of the reconstructions
(decoder means clamped to [0, 1]), and
FD between the held-out images and their reconstructions in seed 0's features (lower:
reconstructions whose features are distributed like real digits').

    python benchmarks/sharp_reconstructions.py [--models vqvae vae] [--epochs 10] [--wp 40] [--wa 0.5] [--rescore]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

import vaelab
from vaelab.data import load_dataset
from vaelab.evaluation import extract_features, frechet_distance, load_classifier, save_classifier, train_classifier
from vaelab.evaluation.batching import image_batches

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"vqvae": "mnist_vqvae", "vae": "mnist_vae_conv"}


def classifiers(data, out: Path) -> dict[int, Path]:
    """Seed -> folder of a SmallCNN trained on the training images (reused when present)."""
    folders = {}
    for seed in (0, 1):
        folder = out / f"classifier-seed{seed}"
        if not (folder / "classifier.json").is_file():
            net, history = train_classifier(data.train.images, data.train.labels, seed=seed, progress=False,
                                            val=(data.val.images, data.val.labels))
            save_classifier(net, folder, {"dataset": "mnist", "held_out_accuracy": history[-1]["val/accuracy"]})
        folders[seed] = folder
    return folders


@torch.inference_mode()
def reconstructions(model, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([model.reconstruct(x).clamp(0, 1).cpu() for x in image_batches(images, 500, model.device)])


def run_entry(model_name: str, entry: str, args, folders: dict[int, Path], judge) -> dict:
    steps = args.epochs * 90
    extra = {"perceptual": [f"model.perceptual_weight={args.wp}", f"model.perceptual_classifier={folders[1]}"],
             "adversarial": [f"model.adversarial_weight={args.wa}", f"model.adversarial_start={steps // 2}"]}
    overrides = {"plain": [], "perceptual": extra["perceptual"], "adversarial": extra["adversarial"],
                 "both": extra["perceptual"] + extra["adversarial"]}[entry]
    common = [f"data.root={args.mnist}", "data.split=test", "data.val=1000", "data.download=false", "data.binarize=none",
              f"train.epochs={args.epochs}", "train.progress=false", "train.seed=0"]
    cfg = vaelab.load_config(ROOT / f"configs/{CONFIGS[model_name]}.yaml", common + overrides)
    folder = Path(args.out) / f"{model_name}-{entry}"
    start = time.perf_counter()
    if not args.rescore:  # --rescore: score the runs already in --out again, without training
        vaelab.train(cfg, folder, overwrite=True)
    seconds = time.perf_counter() - start
    model = vaelab.load(folder)
    held = load_dataset(cfg.data).val
    real = held.images.float() / 255
    recon = reconstructions(model, held.images)
    fake = extract_features(judge, recon)
    return {"model": model_name, "entry": entry, "overrides": overrides, "mse": float((recon - real).pow(2).mean()),
            "fd_reconstructions": frechet_distance(extract_features(judge, held.images), fake), "train_seconds": seconds,
            "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
            "torch": torch.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--entries", nargs="+", default=["plain", "perceptual", "adversarial", "both"])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--wp", type=float, default=40.0)
    parser.add_argument("--wa", type=float, default=0.5)
    parser.add_argument("--mnist", default=str(ROOT.parent / "shared/data/mnist"))
    parser.add_argument("--out", default=str(ROOT / "runs/sharp"))
    parser.add_argument("--rescore", action="store_true", help="score the runs in --out again, without training")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_dataset(vaelab.load_config(ROOT / "configs/mnist_vqvae.yaml",
                                           [f"data.root={args.mnist}", "data.split=test", "data.val=1000",
                                            "data.download=false"]).data)
    folders = classifiers(data, out)
    judge = load_classifier(folders[0])[0]
    print("| model | losses | held-out MSE ([0,1]) | FD(held-out, reconstructions) | train |")
    print("|---|---|---|---|---|")
    for model_name in args.models:
        for entry in args.entries:
            r = run_entry(model_name, entry, args, folders, judge)
            with open(out / "results.jsonl", "a") as f:
                f.write(json.dumps(r) + "\n")
            print(f"| {model_name} | {entry} | {r['mse']:.4f} | {r['fd_reconstructions']:.2f} | {r['train_seconds']:.0f} s |",
                  flush=True)


if __name__ == "__main__":
    main()
