"""Behaviour fingerprint: does a change of code change what vaelab computes?

Trains ten tiny runs through the command line (every model, both quantizers, KL
warm-up and capacity schedules, a learned Gaussian variance), resumes each for one more
epoch, trains the VQ-VAEs' PixelCNN priors, samples, reconstructs and evaluates them,
and records every metric line, a hash of every saved tensor and picture, and every
figure of the scorecard. Run it on two versions of the code and compare:

    python benchmarks/fingerprint.py runs/fp_before      # on the old code
    python benchmarks/fingerprint.py runs/fp_after       # on the new code
    python benchmarks/fingerprint.py --compare runs/fp_before runs/fp_after

One thread per process (OMP_NUM_THREADS=1), so that two runs on one machine agree bit for
bit; about 3 minutes on 2 cores. Shapes data (generated, 400 images of 16 px, 80 held
out), seed 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

DATA = "data: {name: shapes, image_size: 16, num_samples: 400, val: 80}\n"
TRAIN = "train: {epochs: 2, batch_size: 50, progress: false}\n"
SMALL = "latent_dim: 3, hidden: [32]"
VQ = "name: vqvae, channels: [8, 16], res_blocks: 1, num_codes: 16, code_dim: 4"
MODELS = {
    "vae": f"{{name: vae, {SMALL}}}",
    "conv_vae": "{name: vae, latent_dim: 4, backbone: conv, channels: [8, 16], res_blocks: 1}",
    "beta_warm": f"{{name: beta-vae, {SMALL}, warmup_steps: 5}}",
    "capacity": f"{{name: vae, {SMALL}, capacity_max: 5.0, capacity_steps: 4}}",
    "cvae": f"{{name: cvae, {SMALL}}}",
    "infovae": f"{{name: infovae, {SMALL}}}",
    "ae": f"{{name: ae, {SMALL}}}",
    "gauss": f"{{name: vae, {SMALL}, likelihood: gaussian-learned}}",
    "vq_ema": f"{{{VQ}, quantizer: ema}}",
    "vq_plain": f"{{{VQ}, quantizer: vq}}",
}
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def vaelab(*args: str) -> bool:
    """Run one CLI command; False when it exits with an error (printed)."""
    proc = subprocess.run([sys.executable, "-m", "vaelab.cli", "-q", *args], capture_output=True, text=True, env=ENV)
    if proc.returncode:
        print(f"  vaelab {' '.join(args[:2])}: {proc.stderr.strip()[-300:]}")
    return proc.returncode == 0


def tensor_hashes(path: Path) -> dict[str, str]:
    from safetensors.torch import load_file

    return {k: hashlib.sha256(v.contiguous().numpy().tobytes()).hexdigest()[:16] for k, v in sorted(load_file(str(path)).items())}


def picture_hash(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as im:
        return hashlib.sha256(im.tobytes()).hexdigest()[:16]


def metrics(path: Path) -> list[dict]:
    """metrics.jsonl without the timings."""
    return [{k: v for k, v in json.loads(line).items() if not k.endswith("seconds")} for line in path.read_text().splitlines()]


def fingerprint_run(out: Path, name: str, model: str, classifier: Path) -> dict:
    run, config = out / name, out / f"{name}.yaml"
    config.write_text(DATA + f"model: {model}\n" + TRAIN)
    assert vaelab("train", str(config), "--out", str(run), "--overwrite") and vaelab("train", "--resume", str(run), "train.epochs=3")
    record = {"metrics": metrics(run / "metrics.jsonl"), "last": tensor_hashes(run / "last.safetensors"),
              "best": tensor_hashes(run / "best.safetensors")}
    if name.startswith("vq"):
        assert vaelab("prior", "train", str(run), "train.epochs=2", "train.progress=false", "pixelcnn.channels=8", "pixelcnn.layers=2")
        record["prior"] = tensor_hashes(run / "prior" / "best.safetensors")
        record["prior_metrics"] = metrics(run / "prior" / "metrics.jsonl")
    if name != "ae" and vaelab("sample", str(run), "-n", "6", "--out", str(run / "s.png")):
        record["samples"] = picture_hash(run / "s.png")
    if vaelab("reconstruct", str(run), "-n", "8", "--out", str(run / "r.png")):
        record["reconstructions"] = picture_hash(run / "r.png")
    if vaelab("evaluate", str(run), "--k", "8", "-n", "40", "--samples", "40", "--classifier", str(classifier)):
        scores = json.loads((run / "evaluation.json").read_text())
        scores.pop("run", None)
        scores.get("classifier", {}).pop("folder", None)
        record["evaluation"] = scores
    return record


def differences(a, b, path: str = "") -> list[str]:
    """Where two fingerprints differ, one line each."""
    if isinstance(a, dict) and isinstance(b, dict):
        lines = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                lines.append(f"{path}/{key}: only in the {'second' if key not in a else 'first'}")
            else:
                lines += differences(a[key], b[key], f"{path}/{key}")
        return lines
    return [] if a == b else [f"{path}: {str(a)[:80]} -> {str(b)[:80]}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="folder for the runs and fingerprint.json")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="two folders written by this script")
    args = parser.parse_args()
    if args.compare:
        a, b = (json.loads((Path(f) / "fingerprint.json").read_text()) for f in args.compare)
        lines = differences(a, b)
        print("\n".join(lines) or "identical")
        return
    if not args.out:
        parser.error("give an output folder, or --compare A B")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    classifier = out / "classifier"
    assert vaelab("classifier", "train", "--dataset", "shapes", "image_size=16", "num_samples=400", "val=80",
                  "--epochs", "2", "--out", str(classifier))
    result = {}
    for name, model in MODELS.items():
        result[name] = fingerprint_run(out, name, model, classifier)
        print(f"{name}: done", flush=True)
    (out / "fingerprint.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"written to {out / 'fingerprint.json'}")


if __name__ == "__main__":
    main()
