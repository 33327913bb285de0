"""Linear probe: how linearly decodable labels are from latent codes.

A multinomial logistic regression on standardised codes,

    p(y = c | z) = softmax(W^T (z - m) / s + b)_c,
    minimise  mean_n -log p(y_n | z_n) + l2 * ||W||^2,

fitted full-batch by L-BFGS (a smooth convex problem: the optimum is unique for l2 > 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from vaelab.errors import ConfigError


@dataclass
class LogisticRegression:
    """A fitted classifier: mean m [D], scale s [D], weights W [D, K], bias b [K] (float64)."""

    mean: Tensor
    scale: Tensor
    weight: Tensor
    bias: Tensor

    def logits(self, codes: Tensor) -> Tensor:
        """codes [N, D] -> logits [N, K]."""
        return ((codes.double() - self.mean) / self.scale) @ self.weight + self.bias

    def predict(self, codes: Tensor) -> Tensor:
        """codes [N, D] -> classes int64 [N]."""
        return self.logits(codes).argmax(1)

    def accuracy(self, codes: Tensor, labels: Tensor) -> float:
        return float((self.predict(codes) == labels).double().mean())


def fit_logistic_regression(codes: Tensor, labels: Tensor, num_classes: int | None = None,
                            l2: float = 1e-3, max_iter: int = 500) -> LogisticRegression:
    """Fit on codes [N, D] (any float) and labels int64 [N] in 0..num_classes-1.

    Standardising (m, s = the codes' mean and std; s = 1 for constant dimensions) makes
    l2 and the optimizer's tolerances independent of the codes' scale.
    """
    if codes.dim() != 2 or len(codes) != len(labels) or len(codes) == 0:
        raise ConfigError(f"logistic regression needs codes [N, D] with N labels, "
                          f"got {list(codes.shape)} and {len(labels)} labels.")
    num_classes = num_classes or int(labels.max()) + 1
    x = codes.double().cpu()
    y = labels.cpu()
    mean, scale = x.mean(0), x.std(0, correction=0)
    scale = torch.where(scale > 1e-8, scale, torch.ones_like(scale))
    x = (x - mean) / scale
    weight = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=max_iter, history_size=20,
                                  tolerance_grad=1e-9, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, y) + l2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return LogisticRegression(mean, scale, weight.detach(), bias.detach())


def linear_probe(train_codes: Tensor, train_labels: Tensor, test_codes: Tensor, test_labels: Tensor,
                 num_classes: int | None = None, l2: float = 1e-3, max_iter: int = 500) -> float:
    """Test accuracy of a logistic regression fitted on (train_codes [N, D], train_labels [N]).

    Use posterior means (latent_stats.posterior_means) of a training set and of a
    held-out set. Chance is the frequency of the most common test label.
    """
    if train_codes.shape[1:] != test_codes.shape[1:]:
        raise ConfigError(f"train and test codes differ in width: "
                          f"{list(train_codes.shape)} and {list(test_codes.shape)}.")
    num_classes = num_classes or max(int(train_labels.max()), int(test_labels.max())) + 1
    probe = fit_logistic_regression(train_codes, train_labels, num_classes, l2, max_iter)
    return probe.accuracy(test_codes, test_labels.cpu())
