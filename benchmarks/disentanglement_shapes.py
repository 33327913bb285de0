"""Disentanglement on the shapes data: the plain VAE against beta-VAE, beta-TCVAE and
FactorVAE (issue 11's table), MIG, FactorVAE score and beta-VAE score per seed.

Each model is its shipped shapes config (shapes_beta_vae, shapes_beta_tcvae,
shapes_factorvae; the plain VAE is shapes_beta_vae with model.name=vae, beta=1) made
smaller to fit a 2-core CPU: 32 x 32 images, 20,000 of them (2,000 held out), MLP
512-512, 10 latents, 10 epochs (override with key=value). Scores on the held-out images
(MIG) and on freshly rendered ones (the two classifier scores), seeded.

    python benchmarks/disentanglement_shapes.py --seeds 0 1 2 [--out runs/disentangle] [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

import vaelab
from vaelab.data import load_dataset
from vaelab.evaluation import beta_vae_score, factor_vae_score, mig, posterior_means

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = {
    "vae": ("shapes_beta_vae", ["model.name=vae", "model.beta=1.0"]),
    "beta-vae": ("shapes_beta_vae", []),
    "beta-tcvae": ("shapes_beta_tcvae", []),
    "factorvae": ("shapes_factorvae", []),
}
SMALLER = ["data.image_size=32", "data.num_samples=20000", "data.val=2000", "model.hidden=[512,512]", "train.epochs=10"]


def run_entry(name: str, seed: int, out: Path, extra: list[str]) -> dict:
    config, overrides = ENTRIES[name]
    cfg = vaelab.load_config(ROOT / f"configs/{config}.yaml",
                             SMALLER + overrides + extra + [f"train.seed={seed}", "train.progress=false"])
    folder = out / f"{name}-seed{seed}"
    vaelab.train(cfg, folder, overwrite=True)
    model = vaelab.load(folder)
    held = load_dataset(cfg.data).val
    encode = lambda images: posterior_means(model, images)  # noqa: E731
    score, _ = mig(encode(held.images), held.factors)
    size = cfg.data.image_size
    return {"entry": name, "seed": seed, "config": config, "overrides": SMALLER + overrides + extra, "mig": score,
            "beta_vae_score": beta_vae_score(encode, image_size=size, seed=seed),
            "factor_vae_score": factor_vae_score(encode, image_size=size, seed=seed),
            "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
            "torch": torch.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", nargs="+", default=list(ENTRIES), choices=list(ENTRIES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--out", default=str(ROOT / "runs/disentangle"))
    parser.add_argument("overrides", nargs="*", help="extra key=value for every entry")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print("| entry | seed | MIG | FactorVAE score | beta-VAE score |")
    print("|---|---|---|---|---|")
    for seed in args.seeds:
        for name in args.entries:
            r = run_entry(name, seed, out, args.overrides)
            with open(out / "results.jsonl", "a") as f:
                f.write(json.dumps(r) + "\n")
            print(f"| {name} | {seed} | {r['mig']:.3f} | {r['factor_vae_score']:.3f} | {r['beta_vae_score']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
