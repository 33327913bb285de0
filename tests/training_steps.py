"""A few Adam steps on one fixed batch, for tests that check a model's loss falls."""

import torch


def train_on_batch(model: torch.nn.Module, x: torch.Tensor, steps: int = 150, lr: float = 3e-3,
                   term: str = "loss") -> list[float]:
    """Train `model` (in train mode) `steps` Adam steps on the batch x; each step's loss, or
    its term called `term` (e.g. 'mse')."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    values = []
    for _ in range(steps):
        out = model(x)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        values.append(out.loss.item() if term == "loss" else float(out.terms[term]))
    return values
