"""Quantization: the distance search, and the two Lloyd conditions for Lloyd-Max and LBG."""

import itertools
import math

import pytest
import torch

from vaelab.errors import ConfigError
from vaelab.models.quantizers.lloyd import lbg, lloyd_max, nearest_code, quantize_scalar, squared_distances


def test_squared_distances_match_cdist():
    g = torch.Generator().manual_seed(0)
    x, e = torch.randn(50, 6, generator=g) + 3, torch.randn(11, 6, generator=g)
    d = squared_distances(x, e)
    assert d.shape == (50, 11) and d.dtype == torch.float32 and d.min() >= 0
    torch.testing.assert_close(d, torch.cdist(x.double(), e.double()).pow(2).float(), rtol=1e-5, atol=1e-4)
    assert squared_distances(x, x).diagonal().abs().max() < 1e-4  # no negative rounding residue


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_are_measured_in_float32(dtype):
    g = torch.Generator().manual_seed(1)
    x, e = (10 * torch.randn(64, 16, generator=g)).to(dtype), (10 * torch.randn(32, 16, generator=g)).to(dtype)
    truth = torch.cdist(x.double(), e.double()).pow(2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        d = squared_distances(x, e)
    assert d.dtype == torch.float32
    # float32 errs by ~1e-7 relative to ||x||^2 (~1600); half precision would err by ~10
    assert (d.double() - truth).abs().max() < 1e-2
    # the same under autocast with float32 inputs: the matmul must not drop to bfloat16
    x32, e32 = x.float(), e.float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert (squared_distances(x32, e32).double() - truth).abs().max() < 1e-2


def test_chunked_nearest_code_equals_unchunked():
    g = torch.Generator().manual_seed(2)
    x, e = torch.randn(103, 5, generator=g), torch.randn(17, 5, generator=g)
    index, dist = nearest_code(x, e, chunk_size=7)
    full_index, full_dist = nearest_code(x, e, chunk_size=10_000)
    assert index.dtype == torch.int64 and dist.dtype == torch.float32 and index.shape == dist.shape == (103,)
    assert torch.equal(index, full_index) and torch.allclose(dist, full_dist)
    assert torch.equal(index, torch.cdist(x, e).argmin(1))
    torch.testing.assert_close(dist, (x - e[index]).pow(2).sum(1), rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError, match="chunk_size"):
        nearest_code(x, e, chunk_size=0)


def assert_lloyd_max_fixed_point(samples, q):
    assert torch.all(q.levels[1:] > q.levels[:-1])
    torch.testing.assert_close(q.boundaries, (q.levels[1:] + q.levels[:-1]) / 2)
    cell = torch.bucketize(samples, q.boundaries)
    means = torch.stack([samples[cell == i].mean() for i in range(len(q.levels))])
    torch.testing.assert_close(q.levels, means, rtol=0, atol=1e-4)
    distortion = (samples - quantize_scalar(samples, q.levels, q.boundaries)).pow(2).mean().item()
    assert math.isclose(q.distortion, distortion, rel_tol=1e-5)


def test_lloyd_max_on_uniform_samples_spaces_levels_evenly():
    # stratified samples, one per interval [i/N, (i+1)/N): an empirical distribution close
    # enough to U(0, 1) that the optimum is the even grid to within ~1e-4 (i.i.d. draws
    # move the levels by ~1e-2, since the uniform's optimum is only weakly attracting)
    n = 100_000
    samples = (torch.arange(n) + torch.rand(n, generator=torch.Generator().manual_seed(3))) / n
    q = lloyd_max(samples, 8)
    torch.testing.assert_close(q.levels, (torch.arange(8) + 0.5) / 8, rtol=0, atol=1e-3)
    assert math.isclose(q.distortion, 1 / (12 * 64), rel_tol=1e-2)  # step^2 / 12
    assert_lloyd_max_fixed_point(samples, q)


def symmetric_normal(n: int, seed: int) -> torch.Tensor:
    """z and -z: symmetric like N(0, 1), so the optimum is not shifted by the sample's mean."""
    z = torch.randn(n // 2, generator=torch.Generator().manual_seed(seed))
    return torch.cat([z, -z])


def test_lloyd_max_two_levels_for_a_gaussian_are_plus_minus_sqrt_2_over_pi():
    samples = symmetric_normal(200_000, seed=4)
    q = lloyd_max(samples, 2)
    expected = math.sqrt(2 / math.pi)  # E|z|
    torch.testing.assert_close(q.levels, torch.tensor([-expected, expected]), rtol=0, atol=5e-3)
    assert math.isclose(q.distortion, 1 - 2 / math.pi, abs_tol=5e-3)
    assert_lloyd_max_fixed_point(samples, q)


def test_lloyd_max_gaussian_four_levels_reach_the_fixed_point():
    samples = symmetric_normal(100_000, seed=5)
    q = lloyd_max(samples, 4, iters=500)
    assert 1 < q.iterations < 500  # moved from the quantiles, and converged rather than ran out
    assert_lloyd_max_fixed_point(samples, q)
    # Max (1960): levels +-0.4528, +-1.510 and distortion 0.1175 for N(0, 1)
    torch.testing.assert_close(q.levels, torch.tensor([-1.510, -0.4528, 0.4528, 1.510]), rtol=0, atol=1e-2)
    assert math.isclose(q.distortion, 0.1175, rel_tol=2e-2)


def test_lloyd_max_rejects_no_levels():
    with pytest.raises(ConfigError, match="levels"):
        lloyd_max(torch.rand(10), 0)


def blobs(n_per: int, centres: torch.Tensor, spread: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(len(centres)).repeat_interleave(n_per)
    return centres[labels] + spread * torch.randn(len(labels), centres.shape[1], generator=g), labels


def assert_lloyd_conditions(x, result):
    codebook, assign = result.codebook, result.assignments
    k = len(codebook)
    assert torch.bincount(assign, minlength=k).min() > 0  # every codeword used
    assert torch.equal(assign, torch.cdist(x, codebook).argmin(1))  # nearest neighbour
    centroids = torch.stack([x[assign == i].mean(0) for i in range(k)])
    torch.testing.assert_close(codebook, centroids, rtol=0, atol=1e-5)  # centroid
    assert math.isclose(result.distortion, (x - codebook[assign]).pow(2).sum(1).mean().item(), rel_tol=1e-5)


@pytest.mark.parametrize("k", [1, 3, 4, 6])
def test_lbg_satisfies_both_lloyd_conditions(k):
    x = torch.randn(400, 3, generator=torch.Generator().manual_seed(6))
    result = lbg(x, k, iters=200, generator=torch.Generator().manual_seed(0))
    assert result.codebook.shape == (k, 3) and result.assignments.shape == (400,)
    assert_lloyd_conditions(x, result)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lbg_recovers_well_separated_clusters(seed):
    # 8 blobs on the corners of a 40 x 20 x 10 box. Splitting is a local search: each
    # round halves the cells, so clusters that do not halve evenly (e.g. four at equal
    # distances, split 3 + 1) can end with a codeword on two blobs and two on one.
    centres = torch.tensor([[40 * a, 20 * b, 10 * c] for a in range(2) for b in range(2) for c in range(2)])
    x, labels = blobs(50, centres.float(), 0.5, seed=7 + seed)
    result = lbg(x, 8, generator=torch.Generator().manual_seed(seed))
    # each codeword sits on one centre, and each cluster is exactly one cell
    nearest_centre = torch.cdist(result.codebook, centres.float()).argmin(1)
    assert sorted(nearest_centre.tolist()) == list(range(8))
    torch.testing.assert_close(result.codebook, centres[nearest_centre].float(), rtol=0, atol=0.25)
    assert torch.equal(nearest_centre[result.assignments], labels)
    assert math.isclose(result.distortion, 3 * 0.25, rel_tol=0.15)  # D * spread^2
    assert_lloyd_conditions(x, result)


def test_lbg_distortion_does_not_increase_with_k():
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(8)) * torch.tensor([3.0, 1.0])
    distortions = [lbg(x, k, generator=torch.Generator().manual_seed(0)).distortion for k in range(1, 11)]
    assert all(b <= a * (1 + 1e-6) for a, b in itertools.pairwise(distortions)), distortions
    assert math.isclose(distortions[0], x.var(0, correction=0).sum().item(), rel_tol=1e-5)  # one codeword: the mean
    assert distortions[-1] < 0.15 * distortions[0]


def test_lbg_uses_every_codeword_even_when_k_equals_n():
    x = torch.randn(9, 2, generator=torch.Generator().manual_seed(9))
    result = lbg(x, 9, generator=torch.Generator().manual_seed(0))
    assert sorted(result.assignments.tolist()) == list(range(9)) and result.distortion < 1e-10


def test_lbg_splits_a_zero_mean_codeword():
    # clusters symmetric about 0: a multiplicative split c (1 +- eps) of c = 0 would not split
    x, _ = blobs(30, torch.tensor([[-5.0, 5.0], [5.0, -5.0]]), 0.1, seed=10)
    result = lbg(x, 2, generator=torch.Generator().manual_seed(0))
    assert result.distortion < 0.1 and sorted(torch.bincount(result.assignments).tolist()) == [30, 30]


def test_lbg_rejects_fewer_points_than_codewords():
    with pytest.raises(ConfigError, match="N >= k"):
        lbg(torch.randn(5, 2), 6)
