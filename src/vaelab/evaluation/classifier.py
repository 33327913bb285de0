"""A small CNN classifier per dataset: accuracy, features for the Frechet distance and
precision/recall, and the classification accuracy score (Ravuri & Vinyals, 2019).

Scores computed in a classifier's feature space are only comparable under the same
classifier: `save_classifier` records the sha256 of its weights, and every such score
should name it (meta["id"], the first 12 hex digits).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save
from torch import Tensor
from tqdm.auto import tqdm

from vaelab.errors import ConfigError
from vaelab.evaluation.batching import as_float, image_batches
from vaelab.files import atomic_write
from vaelab.nn.device import module_device
from vaelab.nn.small_cnn import META, WEIGHTS, SmallCNN


def train_classifier(
    images: Tensor,
    labels: Tensor,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    val: tuple[Tensor, Tensor] | None = None,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    width: int = 32,
    feature_dim: int = 128,
) -> tuple[SmallCNN, list[dict]]:
    """Train a SmallCNN with Adam on cross-entropy; returns (model in eval mode, history).

    images: uint8 [N, C, H, W] or float in [0, 1]; labels int64 [N] in 0..num_classes-1
    (num_classes defaults to max label + 1). val: held-out (images, labels), scored
    after every epoch. width, feature_dim: the SmallCNN's sizes. history: one dict per
    epoch with epoch, train/loss (mean cross-entropy, nats), train/accuracy and
    val/accuracy. Deterministic for a seed on the CPU (its own generator for the order;
    the global RNG is restored afterwards).
    The defaults reach 98% held-out accuracy on MNIST from 9000 training images.
    """
    if len(images) != len(labels) or len(images) == 0:
        raise ConfigError(f"a classifier needs as many labels as images (and some), "
                          f"got {len(labels)} and {len(images)}.")
    num_classes = num_classes or int(labels.max()) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SmallCNN(tuple(images.shape[1:]), num_classes, width, feature_dim).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        loss_sum = correct = torch.zeros((), device=device)  # summed on the device: no sync per step
        for index in tqdm(order.split(batch_size), desc=f"classifier epoch {epoch}/{epochs}",
                          disable=None if progress else True, leave=False):
            x, y = as_float(images[index].to(device)), labels[index].to(device)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum = loss_sum + loss.detach() * len(x)
            correct = correct + (logits.argmax(1) == y).sum()
        n = len(images)
        record = {"epoch": epoch, "train/loss": float(loss_sum) / n, "train/accuracy": float(correct) / n}
        if val is not None:
            record["val/accuracy"] = accuracy(model, *val)
        history.append(record)
    model.eval()
    return model, history


@torch.inference_mode()
def predict(model: SmallCNN, images: Tensor, batch_size: int = 500) -> Tensor:
    """Predicted classes int64 [N] (CPU), in eval mode."""
    was_training = model.training
    model.eval()
    out = [model(x).argmax(1).cpu() for x in image_batches(images, batch_size, module_device(model))]
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def accuracy(model: SmallCNN, images: Tensor, labels: Tensor, batch_size: int = 500) -> float:
    """Fraction of images whose predicted class is their label."""
    if len(images) == 0:
        raise ConfigError("accuracy of an empty set of images is undefined.")
    return float((predict(model, images, batch_size) == labels.cpu()).double().mean())


@torch.no_grad()  # not inference_mode: the features may train a probe (inference tensors cannot be saved for backward)
def extract_features(model: SmallCNN, images: Tensor, batch_size: int = 500) -> Tensor:
    """model.features for every image, float [N, feature_dim] (CPU), in eval mode."""
    was_training = model.training
    model.eval()
    out = [model.features(x).cpu() for x in image_batches(images, batch_size, module_device(model))]
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, model.feature_dim)


def save_classifier(model: SmallCNN, folder: str | Path, meta: dict | None = None) -> dict:
    """Write FOLDER/classifier.safetensors and FOLDER/classifier.json; returns the JSON's dict.

    The JSON holds `meta` (e.g. dataset, held-out accuracy) plus data_shape,
    num_classes, width, feature_dim, sha256 (of the weights file) and id (its first 12
    hex digits: the name every score computed with this classifier should carry).
    Both files are written atomically, the weights first.
    """
    folder = Path(folder)
    blob = save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
    digest = hashlib.sha256(blob).hexdigest()
    record = {
        **(meta or {}),
        "data_shape": list(model.data_shape),
        "num_classes": model.num_classes,
        "width": model.width,
        "feature_dim": model.feature_dim,
        "sha256": digest,
        "id": digest[:12],
    }
    atomic_write(folder / WEIGHTS, lambda tmp: tmp.write_bytes(blob))
    atomic_write(folder / META, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"))
    return record


def classification_accuracy_score(
    generated_images: Tensor,
    generated_labels: Tensor,
    real_test_images: Tensor,
    real_test_labels: Tensor,
    train_real: tuple[Tensor, Tensor] | None = None,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    num_classes: int | None = None,
    device: str | torch.device = "cpu",
    width: int = 32,
    feature_dim: int = 128,
) -> dict:
    """Classification accuracy score (Ravuri & Vinyals, 2019): train on generated, test on real.

    A fresh SmallCNN learns the labels of `generated_images` (class-conditional samples,
    or reconstructions labelled like their inputs) and is scored on real held-out
    images. A model whose samples of class c look like real class c, in all their
    variety, scores near the baseline: the same classifier, same settings and seed,
    trained on as many real images (the first ones of `train_real`). Returns
    {"cas", "real" (None without train_real), "n_generated", "n_real", "n_test"}.
    """
    num_classes = num_classes or max(int(generated_labels.max()), int(real_test_labels.max())) + 1
    settings = dict(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, num_classes=num_classes, device=device,
                    width=width, feature_dim=feature_dim, progress=False)
    model, _ = train_classifier(generated_images, generated_labels, **settings)
    result = {"cas": accuracy(model, real_test_images, real_test_labels), "real": None,
              "n_generated": len(generated_images), "n_real": 0, "n_test": len(real_test_images)}
    if train_real is not None:
        n = min(len(generated_images), len(train_real[0]))
        baseline, _ = train_classifier(train_real[0][:n], train_real[1][:n], **settings)
        result.update(real=accuracy(baseline, real_test_images, real_test_labels), n_real=n)
    return result
