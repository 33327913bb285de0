"""Which latents a shapes run uses and how they line up with the factors: for each run
folder, the latents whose posterior means vary (std over the held-out images above 0.3),
MIG per factor, and the correlation of each active latent with scale, pos_x and pos_y.

    python benchmarks/latent_alignment.py RUN [RUN ...]

A disentangled code has one latent per factor: one large correlation per column, and a
large MIG gap for that factor. A code that mixes x and y shows two latents each
correlated with both (a rotation of the x-y plane).
"""

from __future__ import annotations

import argparse

import torch

import vaelab
from vaelab.data import load_dataset
from vaelab.data.shapes import FACTOR_NAMES, factor_values
from vaelab.evaluation import mig, posterior_means


def describe(folder: str) -> str:
    model = vaelab.load(folder)
    held = load_dataset(vaelab.run_config(folder).data).val
    mu = posterior_means(model, held.images)  # (N, D)
    active = (mu.std(0) > 0.3).nonzero().squeeze(1)
    score, per_factor = mig(mu, held.factors)
    values = factor_values(held.factors)[:, [1, 3, 4]]  # scale, pos_x, pos_y
    corr = torch.corrcoef(torch.cat([mu[:, active], values], 1).T)[: len(active), len(active):]
    lines = [f"{folder}: MIG {score:.3f}; per factor " + ", ".join(f"{n} {g:.3f}" for n, g in zip(FACTOR_NAMES, per_factor)),
             f"  active latents {active.tolist()} (of {mu.shape[1]}); correlation with scale, pos_x, pos_y:"]
    lines += [f"    z{int(j)}: " + "  ".join(f"{float(c):+.2f}" for c in row) for j, row in zip(active, corr)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    for folder in parser.parse_args().runs:
        print(describe(folder))


if __name__ == "__main__":
    main()
