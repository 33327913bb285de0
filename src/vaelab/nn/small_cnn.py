"""The per-dataset classifier's network, and reading one from its folder: the evaluation
scores its features (Frechet distance, precision/recall), and a model may train against
them (a perceptual loss), so the network lives below both."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import Tensor, nn

from vaelab.errors import ConfigError, RunError

WEIGHTS = "classifier.safetensors"
META = "classifier.json"


class SmallCNN(nn.Module):
    """x [B, C, H, W] in [0, 1] -> logits [B, num_classes].

    conv3x3(width) - relu - maxpool2 - conv3x3(2 width) - relu - maxpool2 -
    conv3x3(2 width) - relu - adaptive avg pool to 4x4 - linear(feature_dim) - relu
    (the features) - linear(num_classes). The pooling to a fixed 4x4 grid makes one
    design fit every image size (16 to 64 px and more).
    """

    def __init__(self, data_shape: tuple[int, int, int], num_classes: int, width: int = 32, feature_dim: int = 128):
        super().__init__()
        if num_classes < 2:
            raise ConfigError(f"a classifier needs at least 2 classes, got {num_classes}.")
        self.data_shape, self.num_classes = tuple(data_shape), num_classes
        self.width, self.feature_dim = width, feature_dim
        c = data_shape[0]
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(2 * width * 16, feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """The penultimate layer, [B, feature_dim] (non-negative: after a ReLU)."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def load_classifier(folder: str | Path, device: str | torch.device = "cpu") -> tuple[SmallCNN, dict]:
    """(model in eval mode, meta) from a folder written by `save_classifier`.

    RunError when a file is missing or the weights' sha256 is not the one recorded
    (a classifier retrained or replaced since the JSON was written).
    """
    from safetensors import SafetensorError  # here, not at the top: the models import this module
    from safetensors.torch import load

    folder = Path(folder)
    if not (folder / WEIGHTS).is_file() or not (folder / META).is_file():
        raise RunError(f"{folder} holds no classifier ({WEIGHTS} and {META}); train one first")
    blob = (folder / WEIGHTS).read_bytes()
    try:
        meta = json.loads((folder / META).read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise RunError(f"{folder / META} is not a classifier's JSON record ({e})") from None
    if not isinstance(meta, dict) or hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise RunError(f"{folder / WEIGHTS} does not match the sha256 in {META}: "
                       f"the classifier was changed; retrain it")
    try:  # the JSON was written with these weights (the sha256 matches), so it is vaelab's own
        model = SmallCNN(tuple(meta["data_shape"]), meta["num_classes"], meta["width"], meta["feature_dim"])
        model.load_state_dict(load(blob))
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as e:
        raise RunError(f"{folder} does not hold a classifier this vaelab can read ({str(e).splitlines()[0]})") from None
    return model.to(device).eval(), meta
