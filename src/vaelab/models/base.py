"""The one interface every model of the family speaks.

The trainer, evaluation and plots talk only to this: a new model is one file plus a
line in the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vaelab.errors import CapabilityError
from vaelab.nn.device import module_device


@dataclass
class LossOutput:
    """What `model(x)` returns.

    loss:  scalar to minimise, in nats per example (summed over the data dimensions,
           averaged over the batch); carries gradients.
    terms: named scalars in the same units (recon, kl, ...), detached, for logging.
    """

    loss: Tensor
    terms: dict[str, Tensor]


class GenerativeModel(nn.Module):
    """Base class: `encode`, `decode`, `forward` -> LossOutput, `sample`, `reconstruct`.

    Images are float tensors [B, C, H, W] with pixels in [0, 1]. `y` is an optional
    label batch, int64 [B]: conditional models need it, the others ignore it.
    """

    name: str = "base"
    conditional: bool = False  # True when the model takes a class label

    def __init__(self, config, data_shape: tuple[int, int, int], num_classes: int | None = None):
        super().__init__()
        self.config = config
        self.data_shape = tuple(data_shape)

    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """x [B, C, H, W] -> the latent point that represents it (a posterior mean, a code)."""
        raise NotImplementedError

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z -> the image the model expects for it, [B, C, H, W] in [0, 1]."""
        raise NotImplementedError

    def forward(self, x: Tensor, y: Tensor | None = None) -> LossOutput:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None, labels: Tensor | None = None) -> Tensor:
        """n images drawn from the model, [n, C, H, W] in [0, 1] (of class `labels` [n], if conditional)."""
        raise CapabilityError(f"model {self.name!r} has no prior to sample from")

    def reset_epoch_stats(self) -> None:
        """Start gathering figures over a pass through the data (see `epoch_stats`)."""

    def epoch_stats(self) -> dict[str, float]:
        """Figures gathered since `reset_epoch_stats` that no batch alone gives (e.g. the
        fraction of a codebook in use); the trainer logs them every epoch."""
        return {}

    def objective_is_final(self) -> bool:
        """False while a schedule (e.g. KL warm-up) still changes what the loss measures:
        losses of such epochs are not compared with later ones to pick the best checkpoint."""
        return True

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """decode(encode(x)): [B, C, H, W] -> [B, C, H, W] in [0, 1]."""
        return self.decode(self.encode(x, y), y)

    @property
    def device(self) -> torch.device:
        return module_device(self)
