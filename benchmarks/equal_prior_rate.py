"""Two quantizers at equal *actual* rate: for each seed, the held-out MSE of quantizer B
against quantizer A's MSE at B's prior cross-entropy, read off A's rate-distortion curve
(log-MSE interpolated linearly in rate between A's two runs that bracket it).

Reads the results.jsonl files `benchmarks/rate_distortion.py --prior-at ...` writes
(rows with prior_bits_per_image), e.g.

    python benchmarks/equal_prior_rate.py --a ema --b fsq runs/rate_distortion runs/rd_prior runs/rd_prior2
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def interpolate(points: list[tuple[float, float]], rate: float) -> float | None:
    """MSE at `rate` from (rate, mse) points, log-MSE linear between the bracketing pair; None outside."""
    points = sorted(points)
    for (r0, m0), (r1, m1) in zip(points, points[1:]):
        if r0 <= rate <= r1:
            t = (rate - r0) / (r1 - r0)
            return math.exp((1 - t) * math.log(m0) + t * math.log(m1))
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True)
    parser.add_argument("--b", required=True)
    parser.add_argument("folders", nargs="+")
    args = parser.parse_args()
    rows = [json.loads(line) for folder in args.folders for line in open(Path(folder) / "results.jsonl")]
    rows = [r for r in rows if "prior_bits_per_image" in r]
    print(f"| seed | {args.b}: prior bits/image | {args.b}: MSE | {args.a} at that rate | {args.a} points (bits, MSE) |")
    print("|---|---|---|---|---|")
    for seed in sorted({r.get("seed", 0) for r in rows}):
        mine = [r for r in rows if r.get("seed", 0) == seed]
        a = [(r["prior_bits_per_image"], r["mse"]) for r in mine if r["entry"] == args.a]
        for b in (r for r in mine if r["entry"] == args.b):
            at = interpolate(a, b["prior_bits_per_image"])
            shown = "outside A's runs" if at is None else f"{at:.5f}"
            points = ", ".join(f"({r:.0f}, {m:.5f})" for r, m in sorted(a))
            print(f"| {seed} | {b['prior_bits_per_image']:.0f} | {b['mse']:.5f} | {shown} | {points} |")


if __name__ == "__main__":
    main()
