"""The trainer's cost per step where it shows most: a tiny model whose step takes well
under a millisecond, so the loop's own Python work is a visible fraction of it.

VAE 64-32-4 (MLP) on random binary 8x8 images (no dataset needed), batch 32, Adam, one
thread, nothing held out. Prints the median microseconds per training step
over `--repeats` runs of `--steps` steps (train/seconds of metrics.jsonl / steps).
Run it under two versions of vaelab (PYTHONPATH=OLD/src) alternately to compare them:

    for i in 1 2 3; do PYTHONPATH=/tmp/old/src python benchmarks/step_overhead.py; python benchmarks/step_overhead.py; done
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch

torch.set_num_threads(1)

from vaelab.config import compose  # noqa: E402
from vaelab.data import DataSplits, ImageDataset  # noqa: E402
from vaelab.models import config_class  # noqa: E402
from vaelab.runs import train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(args.steps * 32, 1, 8, 8, generator=g) > 0.5).to(torch.uint8) * 255
    data = DataSplits(ImageDataset(images, None, name="random"), None)
    cfg = compose({}, ["model.hidden=[32]", "model.latent_dim=4", "train.batch_size=32", "train.epochs=1",
                       "train.progress=false", "train.device=cpu"], config_class)
    per_step = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as run:
            history = train(cfg, run, data=data).history
        per_step.append(1e6 * history[0]["train/seconds"] / args.steps)
    import vaelab

    print(f"{vaelab.__file__}: median {statistics.median(per_step):.1f} us/step, min {min(per_step):.1f} "
          f"({args.repeats} runs of {args.steps} steps, 1 thread)")


if __name__ == "__main__":
    main()
