"""Disentanglement metrics on ground-truth factors (the shapes dataset's, by default).

A representation is a function encode(images) -> codes [n, D] (a VAE's posterior
means: `lambda x: posterior_means(model, x)`). The metrics ask how the codes relate to
the factors v = (shape, scale, orientation, pos_x, pos_y) that drew the images:

    mig               mutual information gap (Chen et al., 2018), on a dataset's codes;
    beta_vae_score    which factor was held fixed, from |z1 - z2| (Higgins et al., 2017);
    factor_vae_score  which factor was held fixed, from the least varying latent
                      (Kim & Mnih, 2018).

The last two draw their own images: factors are sampled, then turned into images by
`render` (default: vaelab.data.shapes.render_shapes at `image_size`, pixels in [0, 1]).
Any other generative process with independent factors fits through `render` and
`factor_sizes` (a test passes the factors themselves as "images").
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from vaelab.data.shapes import FACTOR_SIZES, render_shapes
from vaelab.errors import ConfigError
from vaelab.evaluation.probe import fit_logistic_regression

Encode = Callable[[Tensor], Tensor]  # images [n, C, H, W] in [0, 1] -> codes [n, D]
Render = Callable[[Tensor], Tensor]  # factor indices int64 [n, F] -> images [n, C, H, W] in [0, 1]


def shapes_renderer(image_size: int = 64) -> Render:
    """factors int64 [n, 5] -> the shapes images, float [n, 1, S, S] in {0, 1}."""
    return lambda factors: render_shapes(factors, image_size).float().div_(255)


def sample_factors(n: int, factor_sizes: list[int], generator: torch.Generator) -> Tensor:
    """n rows of factor indices drawn independently and uniformly, int64 [n, F]."""
    return torch.stack([torch.randint(size, (n,), generator=generator) for size in factor_sizes], dim=1)


def codes_of(encode: Encode, render: Render, factors: Tensor, chunk: int = 1024) -> Tensor:
    """encode(render(factors)), `chunk` rows at a time: float [n, D] on the CPU."""
    return torch.cat([encode(render(f)).detach().float().cpu() for f in factors.split(chunk)])


# ---- MIG -----------------------------------------------------------------------------

def discretize(codes: Tensor, bins: int = 20) -> Tensor:
    """Each column of codes [N, D] into `bins` equal-width bins over its [min, max]: int64 [N, D]."""
    low, high = codes.min(0).values, codes.max(0).values
    width = (high - low).clamp(min=1e-12) / bins  # a constant column falls into bin 0
    return ((codes - low) / width).floor().long().clamp(0, bins - 1)


def entropy(v: Tensor) -> float:
    """H(v) in nats of a discrete variable from its samples int64 [N]."""
    p = torch.unique(v, return_counts=True)[1].double() / len(v)
    return float(-(p * p.log()).sum())


def mutual_information(a: Tensor, b: Tensor) -> float:
    """I(a; b) = sum_ab p(a, b) log(p(a, b) / (p(a) p(b))) in nats, from paired samples int64 [N] (plug-in estimate)."""
    a, b = torch.unique(a, return_inverse=True)[1], torch.unique(b, return_inverse=True)[1]
    na, nb = int(a.max()) + 1, int(b.max()) + 1
    joint = torch.bincount(a * nb + b, minlength=na * nb).view(na, nb).double() / len(a)
    pa, pb = joint.sum(1, keepdim=True), joint.sum(0, keepdim=True)
    nonzero = joint > 0
    return float((joint[nonzero] * (joint / (pa * pb))[nonzero].log()).sum())


def mig(codes: Tensor, factors: Tensor, bins: int = 20) -> tuple[float, Tensor]:
    """Mutual information gap: (mean over factors, per-factor gaps float [F]).

    For factor v_k, with j* and j' the two code dimensions of highest I(z_j; v_k),
    gap_k = (I(z_j*; v_k) - I(z_j'; v_k)) / H(v_k), in [0, 1]: 1 when one latent alone
    holds all of v_k. MI is estimated by binning each code dimension into `bins`
    equal-width bins (coarser bins than a factor has values cap the gap below 1:
    log(bins) / log(values) at best). Constant factors (H = 0) get nan and are left out
    of the mean. codes [N, D] (posterior means), factors int64 [N, F].
    """
    if codes.dim() != 2 or factors.dim() != 2 or len(codes) != len(factors) or len(codes) == 0:
        raise ConfigError(f"MIG needs codes [N, D] and factors [N, F] for the same N, got "
                          f"{list(codes.shape)} and {list(factors.shape)}.")
    binned = discretize(codes.double(), bins)
    gaps = []
    for v in factors.T:
        h = entropy(v)
        if h == 0:
            gaps.append(math.nan)
            continue
        mi = sorted((mutual_information(z, v) for z in binned.T), reverse=True) + [0.0]
        gaps.append((mi[0] - mi[1]) / h)
    per_factor = torch.tensor(gaps, dtype=torch.float64)
    kept = per_factor[~per_factor.isnan()]
    if len(kept) == 0:
        raise ConfigError("MIG needs at least one factor that varies over the examples.")
    return float(kept.mean()), per_factor


# ---- beta-VAE and FactorVAE scores ----------------------------------------------------

def _fixed_factor_groups(
    n: int, size: int, factor_sizes: list[int], generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """n groups of `size` random factor rows in which factor k_i is shared: ([n, size, F], k [n])."""
    k = torch.randint(len(factor_sizes), (n,), generator=generator)
    factors = sample_factors(n * size, factor_sizes, generator).view(n, size, -1)
    shared = (torch.rand(n, generator=generator) * torch.tensor(factor_sizes)[k]).long()  # uniform in 0..size_k - 1
    factors[torch.arange(n), :, k] = shared[:, None]
    return factors, k


def _check(n_train: int, n_test: int, batch_size: int, minimum: int) -> None:
    if n_train < 1 or n_test < 1 or batch_size < minimum:
        raise ConfigError(f"need n_train >= 1, n_test >= 1 and batch_size >= {minimum}, "
                          f"got {n_train}, {n_test} and {batch_size}.")


def beta_vae_score(
    encode: Encode,
    image_size: int = 64,
    n_train: int = 2000,
    n_test: int = 1000,
    batch_size: int = 64,
    seed: int = 0,
    render: Render | None = None,
    factor_sizes: list[int] = FACTOR_SIZES,
    chunk: int = 1024,
) -> float:
    """Higgins et al. (2017): test accuracy of a linear classifier that tells the fixed factor.

    One example: draw a factor k uniformly; draw L = batch_size pairs of factor rows
    (v1, v2), all factors random except v2_k = v1_k; z_diff = mean_l |z(v1_l) - z(v2_l)|,
    [D]. A multinomial logistic regression learns k from z_diff on n_train examples
    and is scored on n_test more. Chance is 1 / F (0.2 on shapes). Cost: 2 L (n_train
    + n_test) images rendered and encoded.
    """
    _check(n_train, n_test, batch_size, 1)
    render = render or shapes_renderer(image_size)
    g = torch.Generator().manual_seed(seed)

    def examples(n: int) -> tuple[Tensor, Tensor]:
        k = torch.randint(len(factor_sizes), (n,), generator=g)
        first = sample_factors(n * batch_size, factor_sizes, g).view(n, batch_size, -1)
        second = sample_factors(n * batch_size, factor_sizes, g).view(n, batch_size, -1)
        second[torch.arange(n), :, k] = first[torch.arange(n), :, k]  # each pair shares v_k, and only it
        z1 = codes_of(encode, render, first.flatten(0, 1), chunk)
        z2 = codes_of(encode, render, second.flatten(0, 1), chunk)
        return (z1 - z2).abs().view(n, batch_size, -1).mean(1), k

    train_x, train_k = examples(n_train)
    test_x, test_k = examples(n_test)
    classifier = fit_logistic_regression(train_x, train_k, num_classes=len(factor_sizes))
    return classifier.accuracy(test_x, test_k)


def factor_vae_score(
    encode: Encode,
    image_size: int = 64,
    n_train: int = 2000,
    n_test: int = 1000,
    batch_size: int = 64,
    n_variance: int = 5000,
    min_std: float = 0.05,
    seed: int = 0,
    render: Render | None = None,
    factor_sizes: list[int] = FACTOR_SIZES,
    chunk: int = 1024,
) -> float:
    """Kim & Mnih (2018): test accuracy of a majority-vote classifier of the fixed factor.

    s_j = std of latent j over n_variance random images; latents with s_j < min_std
    (collapsed: their mean hardly moves) are dropped. One vote: draw a factor k and
    L = batch_size images sharing a random value of v_k (others random); the kept latent
    with the smallest variance of z_j / s_j over the L images votes (j, k). The
    classifier maps each latent j to the factor it got most votes for on n_train votes;
    the score is its accuracy on n_test new votes. 0 when every latent is collapsed.
    Chance is 1 / F (0.2 on shapes). Cost: n_variance + L (n_train + n_test) images.
    """
    _check(n_train, n_test, batch_size, 2)
    render = render or shapes_renderer(image_size)
    g = torch.Generator().manual_seed(seed)
    scale = codes_of(encode, render, sample_factors(n_variance, factor_sizes, g), chunk).double().std(0)
    kept = scale >= min_std
    if not kept.any():
        return 0.0

    def votes(n: int) -> tuple[Tensor, Tensor]:
        factors, k = _fixed_factor_groups(n, batch_size, factor_sizes, g)
        z = codes_of(encode, render, factors.flatten(0, 1), chunk).double().view(n, batch_size, -1)
        normalised = z[:, :, kept] / scale[kept]
        return normalised.var(dim=1).argmin(dim=1), k

    train_j, train_k = votes(n_train)
    counts = torch.zeros(int(kept.sum()), len(factor_sizes), dtype=torch.long)
    counts.index_put_((train_j, train_k), torch.ones_like(train_k), accumulate=True)
    factor_of_latent = counts.argmax(1)
    test_j, test_k = votes(n_test)
    return float((factor_of_latent[test_j] == test_k).double().mean())
