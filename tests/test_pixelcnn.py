"""Gated PixelCNN prior: causality (no blind spot), the likelihood, learning, and exact fast sampling."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from vaelab.errors import ConfigError
from vaelab.models.priors.pixelcnn import GatedPixelCNN, PixelCNNConfig


def tiny(**kw) -> PixelCNNConfig:
    return PixelCNNConfig(**{"channels": 16, "layers": 2, "kernel_size": 3, "embedding_dim": 8, **kw})


def dependencies(model: GatedPixelCNN, codes: torch.Tensor, labels=None) -> torch.Tensor:
    """dep[i, j, a, b]: whether the logits at (i, j) change with the embedding of the code at (a, b).

    Read from gradients: the embedding's output is the input of the network proper.
    """
    seen = []
    hook = model.embed.register_forward_hook(lambda module, args, out: seen.append(out))
    logits = model.logits(codes, labels)[0]  # [K, H, W]
    hook.remove()
    x = seen[0]  # [1, H, W, E]
    _, h, w = logits.shape
    direction = torch.randn(len(logits), generator=torch.Generator().manual_seed(0))
    dep = torch.zeros(h, w, h, w, dtype=torch.bool)
    for i in range(h):
        for j in range(w):
            (grad,) = torch.autograd.grad(logits[:, i, j] @ direction, x, retain_graph=True)
            dep[i, j] = grad[0].abs().sum(-1) > 0
    return dep


@pytest.mark.parametrize(
    "config", [tiny(layers=4), PixelCNNConfig(channels=8, layers=2, kernel_size=5, embedding_dim=4)], ids=["k3", "k5"]
)
def test_each_position_depends_on_exactly_the_positions_before_it(config):
    torch.manual_seed(0)
    h, w = 4, 5
    model = GatedPixelCNN(6, config)  # reach 6 or 7 > grid: every earlier position is in view
    dep = dependencies(model, torch.randint(0, 6, (1, h, w)))
    order = torch.arange(h * w).reshape(h, w)
    for i in range(h):
        for j in range(w):
            assert torch.equal(dep[i, j], order < order[i, j]), (i, j, dep[i, j])
    # spelled out: not itself, not right, not below; left, up, and up-right (the blind spot of
    # the original PixelCNN) are seen
    i, j = 2, 2
    assert not dep[i, j, i, j] and not dep[i, j, i, j + 1] and not dep[i, j, i + 1, j - 1]
    assert dep[i, j, i, j - 1] and dep[i, j, i - 1, j] and dep[i, j, i - 1, j + 1] and dep[i, j, i - 1, w - 1]


def test_no_dependence_beyond_reach_which_is_exact():
    """The receptive field is `reach` rows up and, within a row, `reach` columns to the left."""
    torch.manual_seed(1)
    model = GatedPixelCNN(5, tiny(layers=1))
    r = model.reach
    assert r == 2 * 1 + 1  # (layers + 1) * (kernel_size // 2) + 1
    h, w = r + 3, r + 4
    dep = dependencies(model, torch.randint(0, 5, (1, h, w)))
    for i in range(h):
        for j in range(w):
            assert not dep[i, j, : max(0, i - r)].any() and not dep[i, j, i, : max(0, j - r)].any(), (i, j)
    # and the bound is tight: the code exactly `reach` rows up, or columns left, does matter
    i, j = h - 1, w - 1
    assert dep[i, j, i - r, j] and dep[i, j, i, j - r]


def test_shapes_and_log_prob_is_the_summed_cross_entropy():
    torch.manual_seed(2)
    model = GatedPixelCNN(7, tiny())
    codes = torch.randint(0, 7, (3, 5, 6))
    logits = model.logits(codes)
    assert logits.shape == (3, 7, 5, 6)
    log_prob = model.log_prob(codes)
    assert log_prob.shape == (3,)
    by_hand = torch.stack(
        [-F.cross_entropy(logits[b].reshape(7, -1).T, codes[b].flatten(), reduction="sum") for b in range(3)]
    )
    torch.testing.assert_close(log_prob, by_hand)
    # log p is the sum of log softmax at the observed codes
    picked = logits.log_softmax(1).gather(1, codes[:, None]).sum((1, 2, 3))
    torch.testing.assert_close(log_prob, picked)
    out = model(codes)
    torch.testing.assert_close(out.loss, -log_prob.mean())
    assert out.loss.requires_grad and not out.terms["nll"].requires_grad
    assert torch.equal(out.terms["nll"], out.loss.detach())


def test_labels_condition_the_output_and_are_required():
    torch.manual_seed(3)
    model = GatedPixelCNN(5, tiny(num_classes=3))
    codes = torch.randint(0, 5, (2, 4, 4))
    a, b = model.logits(codes, torch.tensor([0, 0])), model.logits(codes, torch.tensor([2, 2]))
    assert not torch.allclose(a, b)
    # the class enters at the very first position too, where no code is seen yet
    assert not torch.allclose(a[:, :, 0, 0], b[:, :, 0, 0])
    with pytest.raises(ConfigError, match="class-conditional"):
        model.logits(codes)
    with pytest.raises(ConfigError, match="class-conditional"):
        model.sample(2, (3, 3))
    with pytest.raises(ConfigError, match="labels"):
        model.logits(codes, torch.tensor([0, 3]))
    with pytest.raises(ConfigError, match="labels"):
        model.sample(2, (3, 3), labels=torch.tensor([1]))


def test_user_errors_are_config_errors():
    with pytest.raises(ConfigError, match="kernel_size"):
        GatedPixelCNN(4, tiny(kernel_size=4))
    model = GatedPixelCNN(4, tiny())
    with pytest.raises(ConfigError, match="codes"):
        model.logits(torch.full((1, 3, 3), 4))
    with pytest.raises(ConfigError, match="codes"):
        model.log_prob(torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(ConfigError, match="temperature"):
        model.sample(1, (2, 2), temperature=0)


PATTERNS = torch.tensor(
    [
        [[0, 1, 2, 3], [1, 2, 3, 0], [2, 3, 0, 1], [3, 0, 1, 2]],
        [[3, 3, 0, 0], [3, 3, 0, 0], [1, 1, 2, 2], [1, 1, 2, 2]],
    ]
)


def fit(model, codes, labels=None, steps=100, lr=1e-2):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        out = model(codes, labels)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    return losses


def which_pattern(grids: torch.Tensor) -> torch.Tensor:
    """Index of the pattern each grid equals, -1 for neither: [n, 4, 4] -> [n]."""
    same = (grids[:, None] == PATTERNS[None]).flatten(2).all(-1)  # [n, 2]
    return torch.where(same.any(1), same.int().argmax(1), -1)


def test_learns_each_row_copies_the_row_above():
    # the first row is uniform over 3^4 rows, every later row repeats it: entropy 4 log 3
    first_rows = torch.tensor(list(itertools.product(range(3), repeat=4)))  # all 81, equally likely
    codes = first_rows[:, None, :].expand(-1, 4, -1).contiguous()
    torch.manual_seed(4)
    model = GatedPixelCNN(3, tiny())
    losses = fit(model, codes)
    entropy = 4 * math.log(3)
    assert losses[0] > 16 * math.log(3) * 0.9  # starts near uniform over all 3^16 grids
    assert sum(losses[-10:]) / 10 < entropy + 0.05, losses[-10:]
    grids = model.sample(200, (4, 4), generator=torch.Generator().manual_seed(0))
    assert (grids == grids[:, :1]).all(2).all(1).float().mean() > 0.9
    # and the first rows are spread over all 81 (200 uniform draws give ~74 distinct)
    assert len(torch.unique(grids[:, 0], dim=0)) > 64


def test_class_conditional_model_learns_which_pattern_a_label_means():
    torch.manual_seed(5)
    model = GatedPixelCNN(4, tiny(num_classes=2))
    losses = fit(model, PATTERNS, torch.tensor([0, 1]))  # both grids once: the whole data set
    assert sum(losses[-10:]) / 10 < 0.05  # entropy 0: the label decides the grid
    wanted = torch.tensor([0] * 50 + [1] * 50)
    grids = model.sample(100, (4, 4), labels=wanted, generator=torch.Generator().manual_seed(0))
    assert (which_pattern(grids) == wanted).float().mean() > 0.9


@pytest.mark.parametrize("shape", [(4, 4), (5, 7)])
@pytest.mark.parametrize(
    "config",
    [tiny(), tiny(layers=1), tiny(num_classes=3), PixelCNNConfig(channels=8, layers=1, kernel_size=5, embedding_dim=4)],
    ids=["tiny", "reach-3", "conditional", "k5"],
)
def test_fast_sampling_draws_the_same_grids_as_naive(config, shape):
    torch.manual_seed(6)
    model = GatedPixelCNN(9, config)
    n = 32
    labels = torch.arange(n) % 3 if config.num_classes else None
    fast = model.sample(n, shape, labels=labels, generator=torch.Generator().manual_seed(7), temperature=1.5)
    naive = model.sample_naive(n, shape, labels=labels, generator=torch.Generator().manual_seed(7), temperature=1.5)
    assert fast.shape == (n, *shape) and fast.dtype == torch.int64
    assert fast.min() >= 0 and fast.max() < 9
    assert torch.equal(fast, naive)
    other = model.sample(n, shape, labels=labels, generator=torch.Generator().manual_seed(8), temperature=1.5)
    assert not torch.equal(fast, other)
