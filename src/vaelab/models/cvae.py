"""Conditional VAE (Sohn et al., 2015): q(z|x, y) and p(x|z, y) with a class label y.

The label's embedding (one-hot, or learned) is appended to the encoder's features and
to z at the decoder's input; the prior stays N(0, I). Sampling a chosen class is then
decode(z, y) with z ~ N(0, I).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaelab.config import at_least, one_of
from vaelab.errors import ConfigError
from vaelab.models.base import class_labels
from vaelab.models.vae import VAE, VAEConfig


@dataclass
class CVAEConfig(VAEConfig):
    name: str = "cvae"
    num_classes: Optional[int] = at_least(1, default=None)  # None: taken from the dataset
    label_embedding: str = one_of("onehot", "learned", default="onehot")
    embedding_dim: int = at_least(1, default=16)  # learned embeddings only


class OneHot(nn.Module):
    """y int64 [B] -> one-hot float [B, K]."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.num_classes = num_classes

    def forward(self, y: Tensor) -> Tensor:
        return F.one_hot(y, self.num_classes).float()


class CVAE(VAE):
    name = "cvae"
    conditional = True

    def __init__(self, config: CVAEConfig, data_shape: tuple[int, int, int], num_classes: int | None = None,
                 *, encoder: nn.Module | None = None, decoder: nn.Module | None = None):
        k = config.num_classes or num_classes
        if not k:
            raise ConfigError("cvae needs class labels: a dataset with labels, or model.num_classes")
        if config.label_embedding not in ("onehot", "learned"):
            raise ConfigError(f"unknown model.label_embedding {config.label_embedding!r}; use 'onehot' or 'learned'")
        label_dim = k if config.label_embedding == "onehot" else config.embedding_dim
        super().__init__(config, data_shape, k, label_dim=label_dim, encoder=encoder, decoder=decoder)
        self.num_classes = k
        self.embed_label = OneHot(k) if config.label_embedding == "onehot" else nn.Embedding(k, label_dim)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: Tensor | None = None) -> Tensor:
        """n images of classes `labels` [n] (int64); random classes when None."""
        if labels is None:
            labels = torch.randint(0, self.num_classes, (n,), generator=generator)
        labels = class_labels(labels, n, self.num_classes, self.device)
        return self.decode(self.prior.sample(n, generator), labels)
