"""vaelab's quantizer layers against vector-quantize-pytorch's (issue 22): the time of one
training step of the layer alone, forward and backward, on the same input.

    .venv/bin/pip install -c constraints.txt vector-quantize-pytorch==1.34.1   # the `bench` extra
    .venv/bin/python benchmarks/quantizer_layers.py [--threads 1] [--rounds 15] [--steps 5] [--dead-codes] [--only FSQ]
    .venv/bin/python benchmarks/quantizer_layers.py --quick  # a smoke run on tiny sizes (seconds)

Input: x [64, 1024, 64] (B, N, D, channel-last), float32, on the CPU, requiring grad (as an
encoder's output would; vector-quantize-pytorch skips its straight-through step otherwise).
The step timed, for both libraries alike: zero the gradients, forward in training mode
(codebook updates included), loss = (z_q ** 2).mean() + the layer's own loss terms, backward.
Each pair is warmed up, then timed in interleaved rounds (vaelab, theirs, vaelab, theirs, ...)
of --steps steps each; the table gives the min and median ms per step over the rounds and
theirs / vaelab (> 1.0: vaelab is faster).

Settings, matched where the libraries allow (K = 512 codes of D = 64, commitment 0.25, no
k-means initialisation, straight-through gradients: vector-quantize-pytorch's default is the
rotation trick, turned off here):

    VQ        vaelab VQ: codebook loss ||sg(z) - e||^2 + 0.25 ||z - sg(e)||^2 (sum / B);
              theirs VectorQuantize(learnable_codebook=True, ema_update=False): one loss,
              0.25 * mse(e, z), moving both sides (a mean, not a sum / B).
    EMA VQ    decay 0.99 on both (theirs' default is 0.8); commitment only. The smoothing of
              the counts differs a little (vaelab: Laplace, theirs: eps added per code).
    residual  S = 4 EMA stages of K = 512 on both; vaelab applies straight-through once to
              the sum, theirs once per stage.
    FSQ       levels [8, 5, 5, 5], 1000 codes, projections 64 -> 4 -> 64 with biases on both;
              no loss terms.

Dead codes: vaelab restarts a code unused for 10 steps by default, vector-quantize-pytorch
restarts none by default (dead_code_threshold_ratio=0). Both are off here; --dead-codes turns
each library's own rule on (vaelab dead_code_steps=10; theirs dead_code_threshold_ratio=0.1,
a code whose moving-average count falls under 0.1 of the mean), which are different rules.

Before timing, a check: with equal weights (codebooks, projections) copied into both, in
eval mode, the fraction of positions where both layers give the same code (the table's last
column). FSQ agrees exactly; the codebook searches (vaelab's nearest_code, theirs' cdist)
round differently in float32, so near-ties split: about 99.97% on the full-size input.

Caveat: measured on a shared, noisy 2-core machine; read the ratios, not the absolute
figures, and compare runs only on the same machine and thread count.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

import vector_quantize_pytorch as theirs
from vaelab import quantizers as ours

LEVELS = [8, 5, 5, 5]


@dataclass
class Pair:
    """One quantizer in both libraries: the layers and how to read (z_q, loss) off their outputs."""

    name: str
    vaelab: nn.Module
    theirs: nn.Module
    theirs_output: Callable[[tuple], tuple[Tensor, Tensor]]


def build_pairs(dim: int, codebook_size: int, stages: int, dead_codes: bool) -> list[Pair]:
    """The four pairs, with the settings of the module docstring."""
    dead = dict(dead_code_steps=10 if dead_codes else 0)
    their_dead = dict(dead_code_threshold_ratio=0.1 if dead_codes else 0.0)
    common = dict(commitment=0.25, kmeans_init=False, **dead)
    their_common = dict(commitment_weight=0.25, kmeans_init=False, rotation_trick=False, **their_dead)
    vq_out = lambda out: (out[0], out[2])  # noqa: E731  (quantize, indices, loss)
    return [
        Pair("VQ", ours.VQ(dim, codebook_size, **common),
             theirs.VectorQuantize(dim=dim, codebook_size=codebook_size, learnable_codebook=True,
                                   ema_update=False, **their_common), vq_out),
        Pair("EMA VQ", ours.EMAVQ(dim, codebook_size, decay=0.99, **common),
             theirs.VectorQuantize(dim=dim, codebook_size=codebook_size, decay=0.99, **their_common), vq_out),
        Pair(f"residual VQ (S={stages}, EMA)",
             ours.ResidualVQ(dim, codebook_size, num_quantizers=stages, codebook="ema", decay=0.99, **common),
             theirs.ResidualVQ(dim=dim, num_quantizers=stages, codebook_size=codebook_size, decay=0.99,
                               **their_common),
             lambda out: (out[0], out[2].sum())),  # (quantized, indices, per-stage losses)
        Pair(f"FSQ {LEVELS}", ours.FSQ(LEVELS, dim=dim), theirs.FSQ(levels=LEVELS, dim=dim),
             lambda out: (out[0], torch.zeros(()))),  # (quantized, indices): no loss terms
    ]


def copy_weights(pair: Pair) -> None:
    """Give the pair's second layer the first one's codebooks (or FSQ projections)."""
    mine, other = pair.vaelab, pair.theirs
    with torch.no_grad():
        if isinstance(mine, ours.FSQ):
            for a, b in ((mine.project_in, other.project_in), (mine.project_out, other.project_out)):
                b.weight.copy_(a.weight)
                b.bias.copy_(a.bias)
        elif isinstance(mine, ours.ResidualVQ):
            for stage, layer in zip(mine.layers, other.layers):
                layer._codebook.embed.copy_(stage.codebook[None])
        else:
            other._codebook.embed.copy_(mine.codebook[None])


def codes_agree(pair: Pair, x: Tensor) -> float:
    """Fraction of positions (and stages) where both layers, given equal weights, pick the same code."""
    copy_weights(pair)
    pair.vaelab.eval()
    pair.theirs.eval()
    with torch.no_grad():
        mine = pair.vaelab(x).codes
        other = pair.theirs(x)[1].long()
    pair.vaelab.train()
    pair.theirs.train()
    assert mine.shape == other.shape, (pair.name, mine.shape, other.shape)
    per_stage = pair.vaelab.num_codes // pair.vaelab.codes_per_position  # K (residual: each stage's)
    assert 0 <= int(mine.min()) and int(mine.max()) < per_stage, (pair.name, int(mine.min()), int(mine.max()))
    return float((mine == other).float().mean())


def step(layer: nn.Module, x: Tensor, output: Callable) -> None:
    """One timed step: zero grads, forward (training mode), loss, backward."""
    layer.zero_grad(set_to_none=True)
    x.grad = None
    z_q, loss = output(layer(x))
    ((z_q ** 2).mean() + loss).backward()


def ms_per_step(layer: nn.Module, x: Tensor, output: Callable, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step(layer, x, output)
    return (time.perf_counter() - start) / steps * 1e3


def time_pair(pair: Pair, x: Tensor, rounds: int, steps: int, warmup: int) -> tuple[list[float], list[float]]:
    """Per-step ms of each round, vaelab's and theirs', the two taking turns."""
    ours_out = lambda out: (out.z_q, out.loss)  # noqa: E731
    for _ in range(warmup):
        step(pair.vaelab, x, ours_out)
        step(pair.theirs, x, pair.theirs_output)
    mine, other = [], []
    for _ in range(rounds):
        mine.append(ms_per_step(pair.vaelab, x, ours_out, steps))
        other.append(ms_per_step(pair.theirs, x, pair.theirs_output, steps))
    return mine, other


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=5, help="steps per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps of each layer first")
    parser.add_argument("--dead-codes", action="store_true", help="each library's dead-code restarts on")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 rounds of 2 steps: a smoke run")
    parser.add_argument("--only", help="time only the pairs whose name starts with this (e.g. FSQ)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    (batch, length, dim, codebook_size, stages) = (4, 32, 16, 32, 2) if args.quick else (64, 1024, 64, 512, 4)
    rounds, steps, warmup = (2, 2, 1) if args.quick else (args.rounds, args.steps, args.warmup)
    x = torch.randn(batch, length, dim, requires_grad=True)
    pairs = [p for p in build_pairs(dim, codebook_size, stages, args.dead_codes) if p.name.startswith(args.only or "")]
    agree = {pair.name: codes_agree(pair, x) for pair in pairs}
    print(f"# x [{batch}, {length}, {dim}], K={codebook_size}, {rounds} rounds of {steps} steps "
          f"(after {warmup} warm-up), dead codes {'on' if args.dead_codes else 'off'}")
    print(f"# torch {torch.__version__}, vector-quantize-pytorch "
          f"{importlib.metadata.version('vector-quantize-pytorch')}, threads {torch.get_num_threads()}")
    print("| quantizer | vaelab min (ms) | vaelab median | theirs min (ms) | theirs median "
          "| theirs/vaelab (min) | theirs/vaelab (median) | same codes |")
    print("|---|---|---|---|---|---|---|---|")
    for pair in pairs:
        mine, other = time_pair(pair, x, rounds, steps, warmup)
        a, b = min(mine), min(other)
        c, d = statistics.median(mine), statistics.median(other)
        print(f"| {pair.name} | {a:.1f} | {c:.1f} | {b:.1f} | {d:.1f} | {b / a:.2f} | {d / c:.2f} "
              f"| {agree[pair.name]:.1%} |", flush=True)


if __name__ == "__main__":
    main()
