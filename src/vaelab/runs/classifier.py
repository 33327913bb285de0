"""The per-dataset classifier behind the Frechet distance, precision/recall and CAS:
trained once per dataset (`vaelab classifier train`), kept in classifiers/<dataset>/."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from vaelab.config import DataConfig, build
from vaelab.data import load_dataset, to_float
from vaelab.errors import CapabilityError
from vaelab.evaluation import accuracy, save_classifier, train_classifier

CLASSIFIERS = Path("classifiers")  # default home of trained classifiers: classifiers/<dataset>/


def classifier_folder(dataset: str) -> Path:
    """classifiers/<dataset>, the name made safe for a folder (folder:/a/b -> folder__a_b)."""
    return CLASSIFIERS / "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)


def train_dataset_classifier(dataset: str, overrides: list[str] | tuple[str, ...] = (), out: str | Path | None = None,
                             epochs: int = 10, seed: int = 0) -> dict:
    """Train the dataset's SmallCNN on its training part; held-out accuracy and id in the returned record.

    `overrides` are DataConfig keys (root=..., split=test, val=1000, ...)."""
    data_cfg = build(DataConfig(name=dataset), None, overrides)
    data = load_dataset(data_cfg)
    if data.train.labels is None:
        raise CapabilityError(f"dataset {dataset!r} has no labels to train a classifier on")
    val = None if data.val is None else (to_float(data.val.images), data.val.labels)
    model, history = train_classifier(to_float(data.train.images), data.train.labels, epochs=epochs, seed=seed,
                                      val=val, num_classes=data.train.num_classes)
    held_out = accuracy(model, *val) if val else None
    meta = {"dataset": dataset, "data": {k: v for k, v in asdict(data_cfg).items() if k in ("root", "split", "limit", "val", "split_seed")},
            "held_out_accuracy": held_out, "epochs": epochs, "seed": seed, "class_names": data.train.class_names}
    folder = Path(out) if out else classifier_folder(dataset)
    return save_classifier(model, folder, meta) | {"folder": str(folder)}
