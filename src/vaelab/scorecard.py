"""How good is a trained model? Every measure that applies to a run, in one dict.

`evaluate_run(RUN)` opens the run, its held-out images, and (when one is found) the
dataset's classifier, and returns (and writes to RUN/evaluation.json):

    likelihood   IS-NLL (k importance samples) in nats per image and bits/dim; the ELBO's terms   VAEs
    latent       KL per latent dimension, active units (Cov_x E_q[z_u] > 0.01)                     VAEs
    recon        mean squared error per pixel on the [0, 1] scale                                  all
    codebook     held-out codebook use and perplexity; with a prior, its NLL in bits per code      VQ-VAE
    quality      Frechet distance and precision/recall in the classifier's features                can sample
    retained     classification accuracy score (train on generated, test on real), linear probe    labels
    disentangle  MIG, beta-VAE and FactorVAE scores from the ground-truth factors                 shapes

Scores computed with a classifier carry its id (the first 12 hex digits of its weights'
sha256). `train_dataset_classifier` trains the classifier for a dataset.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from vaelab.config import DataConfig, build
from vaelab.data import ImageDataset, load_dataset, to_float
from vaelab.errors import CapabilityError
from vaelab.evaluation import (
    accuracy,
    active_units,
    beta_vae_score,
    bits_per_dim,
    classification_accuracy_score,
    elbo_terms,
    extract_features,
    factor_vae_score,
    frechet_distance,
    importance_weighted_nll,
    kl_per_dimension,
    linear_probe,
    load_classifier,
    mig,
    posterior_means,
    precision_recall,
    reconstruction_mse,
    save_classifier,
    train_classifier,
)
from vaelab.files import atomic_write
from vaelab.priors import encode_dataset
from vaelab.runs import load, run_config

CLASSIFIERS = Path("classifiers")  # default home of trained classifiers: classifiers/<dataset>/


def classifier_folder(dataset: str) -> Path:
    """classifiers/<dataset>, the name made safe for a folder (folder:/a/b -> folder__a_b)."""
    return CLASSIFIERS / "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset)


@dataclass
class EvalOptions:
    k: int = 1000  # importance samples per image for the IS-NLL
    n: int = 1000  # held-out images to evaluate (all when fewer)
    samples: int = 1000  # generated images for Frechet distance, precision/recall and CAS
    classifier: str | None = None  # classifier folder; default classifiers/<dataset> when it exists
    seed: int = 0


def evaluate_run(run: str | Path, options: EvalOptions = EvalOptions()) -> dict:
    run = Path(run)
    cfg = run_config(run)
    model = load(run)
    data = load_dataset(cfg.data)
    held = data.val if data.val is not None and len(data.val) else data.train
    held = held.subset(slice(0, options.n))
    generator = torch.Generator().manual_seed(options.seed)
    # the pixels the likelihood scores: a fixed binarization for dynamically binarized data
    x = to_float(held.images, cfg.data.binarize, generator)
    y = held.labels if model.conditional else None
    result: dict = {"run": str(run), "model": cfg.model.name, "dataset": cfg.data.name, "held_out_images": len(held)}
    dims = math.prod(held.shape)

    if hasattr(model, "posterior"):
        nll = importance_weighted_nll(model, x, y, k=options.k, generator=generator).mean().item()
        terms = elbo_terms(model, held, binarize=cfg.data.binarize, seed=options.seed)
        result["likelihood"] = {"k": options.k, "is_nll": nll, "bits_per_dim": bits_per_dim(nll, dims), **terms}
        means = posterior_means(model, held.images, y)
        count, _ = active_units(means)
        result["latent"] = {"kl_per_dim": kl_per_dimension(model, held).tolist(), "active_units": count, "latent_dim": means.shape[1]}
    result["recon"] = {"mse_per_pixel_01": reconstruction_mse(model, held)}
    if hasattr(model, "quantizer"):
        result["codebook"] = _codebook(model, held)

    clf_folder = Path(options.classifier) if options.classifier else classifier_folder(cfg.data.name)
    if (clf_folder / "classifier.json").is_file():
        result.update(_with_classifier(model, data, held, clf_folder, options))
    if cfg.data.name == "shapes" and hasattr(model, "posterior"):
        result["disentangle"] = _disentanglement(model, held, cfg.data.image_size, options.seed)
    atomic_write(run / "evaluation.json", lambda tmp: tmp.write_text(json.dumps(result, indent=2) + "\n"))
    return result


@torch.no_grad()
def _codebook(model, held: ImageDataset) -> dict:
    model.reset_epoch_stats()
    codes = encode_dataset(model, held)  # the quantizer counts the codes it hands out
    out = {**model.epoch_stats(), "num_codes": model.quantizer.num_codes, "grid": list(model.grid)}
    if model.prior is not None and not model.conditional:
        nll = -torch.cat([model.prior.log_prob(part) for part in codes.split(500)]).mean().item()
        out.update(prior_nll=nll, prior_bits_per_code=nll / (codes[0].numel() * math.log(2)))
    return out


def _generated(model, n: int, num_classes: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n samples (balanced over classes for conditional models) and their labels."""
    generator = torch.Generator().manual_seed(seed)
    if model.conditional:
        labels = torch.arange(n) % num_classes
        return torch.cat([model.sample(len(p), generator, p) for p in labels.split(500)]).cpu(), labels
    return torch.cat([model.sample(len(p), generator) for p in torch.arange(n).split(500)]).cpu(), None


def _with_classifier(model, data, held: ImageDataset, folder: Path, options: EvalOptions) -> dict:
    clf, meta = load_classifier(folder)
    real = to_float(held.images)
    out: dict = {"classifier": {"id": meta["id"], "folder": str(folder), "held_out_accuracy": meta.get("held_out_accuracy")}}
    try:
        fake, fake_labels = _generated(model, options.samples, held.num_classes, options.seed)
    except CapabilityError:
        fake = fake_labels = None  # a plain AE, or a VQ-VAE without a prior
    if fake is not None:
        fr, ff = extract_features(clf, real), extract_features(clf, fake)
        precision, recall = precision_recall(fr, ff)
        out["quality"] = {"frechet_distance": frechet_distance(fr, ff), "precision": precision, "recall": recall,
                          "generated": len(fake), "classifier": meta["id"]}
    if held.labels is not None:
        train = data.train.subset(slice(0, options.samples))
        if fake_labels is None:  # no class-conditional samples: reconstructions, labelled like their inputs
            with torch.no_grad():
                fake = model.reconstruct(to_float(train.images).to(model.device), train.labels if model.conditional else None).cpu()
            fake_labels, source = train.labels, "reconstructions"
        else:
            source = "class-conditional samples"
        cas = classification_accuracy_score(fake, fake_labels, real, held.labels, train_real=(to_float(train.images), train.labels),
                                            num_classes=held.num_classes, seed=options.seed)
        out["retained"] = {"cas": cas["cas"], "cas_real_baseline": cas["real"], "cas_trained_on": source,
                           "real_accuracy_of_classifier": accuracy(clf, real, held.labels), "classifier": meta["id"]}
        if hasattr(model, "posterior"):
            train_codes = posterior_means(model, train.images, train.labels if model.conditional else None)
            test_codes = posterior_means(model, held.images, held.labels if model.conditional else None)
            out["retained"]["linear_probe"] = linear_probe(train_codes, train.labels, test_codes, held.labels)
    return out


def _disentanglement(model, held: ImageDataset, image_size: int, seed: int) -> dict:
    encode = lambda images: posterior_means(model, images)  # noqa: E731
    score, per_factor = mig(posterior_means(model, held.images), held.factors)
    return {
        "mig": score,
        "mig_per_factor": dict(zip(held.factor_names, per_factor.tolist())),
        "beta_vae_score": beta_vae_score(encode, image_size=image_size, seed=seed),
        "factor_vae_score": factor_vae_score(encode, image_size=image_size, seed=seed),
    }


def train_dataset_classifier(dataset: str, overrides: list[str] | tuple[str, ...] = (), out: str | Path | None = None,
                             epochs: int = 10, seed: int = 0) -> dict:
    """Train the dataset's SmallCNN on its training part; held-out accuracy and id in the returned record.

    `overrides` are DataConfig keys (root=..., split=test, val=1000, ...)."""
    data_cfg = build(DataConfig(name=dataset), None, overrides)
    data = load_dataset(data_cfg)
    if data.train.labels is None:
        raise CapabilityError(f"dataset {dataset!r} has no labels to train a classifier on")
    val = (to_float(data.val.images), data.val.labels) if data.val is not None and len(data.val) else None
    model, history = train_classifier(to_float(data.train.images), data.train.labels, epochs=epochs, seed=seed,
                                      val=val, num_classes=data.train.num_classes)
    held_out = accuracy(model, *val) if val else None
    meta = {"dataset": dataset, "data": {k: getattr(data_cfg, k) for k in ("root", "split", "limit", "val", "split_seed")},
            "held_out_accuracy": held_out, "epochs": epochs, "seed": seed, "class_names": data.train.class_names}
    folder = Path(out) if out else classifier_folder(dataset)
    return save_classifier(model, folder, meta) | {"folder": str(folder)}
