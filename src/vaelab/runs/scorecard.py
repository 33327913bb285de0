"""How good is a trained model? Every measure that applies to a run, in one dict.

`evaluate_run(RUN)` opens the run, its held-out images, and (when one is found) the
dataset's classifier, and returns (and writes to RUN/evaluation.json):

    likelihood   IS-NLL (k importance samples) in nats per image and bits/dim; the ELBO's terms   LatentVariableModel
    latent       KL per latent dimension, active units (Cov_x E_q[z_u] > 0.01)                     LatentVariableModel
    recon        mean squared error per pixel on the [0, 1] scale                                  all
    codebook     held-out codebook use and perplexity; with a prior, its NLL in bits per code      CodeGridModel
    quality      Frechet distance and precision/recall in the classifier's features                can sample
    retained     classification accuracy score (train on generated, test on real), linear probe    labels
    disentangle  MIG, beta-VAE and FactorVAE scores from the ground-truth factors                 shapes
    notes        the measures that did not apply, and why

Which sections apply is decided by the capabilities a model declares (models/base.py).
Scores computed with a classifier carry its id (the first 12 hex digits of its weights'
sha256). `scorecard_lines` turns the dict into text, one line per figure.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vaelab.data import ImageDataset, to_float
from vaelab.data.given import run_data
from vaelab.evaluation import (
    accuracy,
    active_units,
    beta_vae_score,
    bits_per_dim,
    classification_accuracy_score,
    codebook_scores,
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
)
from vaelab.files import atomic_write, check_writable
from vaelab.models import CodeGridModel, LatentVariableModel, LatentVectorModel
from vaelab.models.priors import has_standard_normal_prior
from vaelab.runs.classifier import classifier_folder
from vaelab.runs.folder import load, run_config


@dataclass
class EvalOptions:
    k: int = 1000  # importance samples per image for the IS-NLL
    n: int = 1000  # held-out images to evaluate (all when fewer)
    samples: int = 1000  # generated images for Frechet distance, precision/recall and CAS
    classifier: str | None = None  # classifier folder; default classifiers/<dataset> when it exists
    seed: int = 0


def evaluate_run(run: str | Path, options: EvalOptions = EvalOptions(), data: Any = None,
                 labels: torch.Tensor | None = None, **networks: torch.nn.Module) -> dict:
    """Every measure that applies to the run's model (see the module's docstring), on the data
    set the run's config names, or on `data` (and `labels`) taken as `vaelab.train` takes
    them: the same tensors give the same held-out part. `networks`: your own encoder and
    decoder, for a run trained with them (see `vaelab.load`)."""
    run = Path(run)
    cfg = run_config(run)
    check_writable(run)  # evaluation.json goes there: a read-only folder is refused before the work
    model = load(run, **networks)
    data = run_data(cfg.data, data, labels)
    held, which = data.held_out_or_train()
    held = held.subset(slice(0, options.n))
    result: dict = {"run": str(run), "model": cfg.model.name, "dataset": data.train.name or cfg.data.name,
                    "held_out_images": len(held), "images_from": which}
    notes = []
    if isinstance(model, LatentVariableModel):
        result.update(_likelihood_and_latent(model, held, cfg.data.binarize, options, notes))
    else:
        notes.append(f"no likelihood or latent statistics: model {cfg.model.name!r} has no posterior q(z|x) to sample")
    result["recon"] = {"mse_per_pixel_01": reconstruction_mse(model, held)}
    if isinstance(model, CodeGridModel):
        result["codebook"] = codebook_scores(model, held)
    clf_folder = Path(options.classifier) if options.classifier else classifier_folder(cfg.data.name)
    if (clf_folder / "classifier.json").is_file():
        result.update(_with_classifier(model, data.train, held, clf_folder, options))
    else:
        notes.append(f"no sample quality or CAS: no classifier in {clf_folder} (vaelab classifier train)")
    if cfg.data.name == "shapes":  # the scores render new shapes images from chosen factors
        if _posterior_vectors(model) and not model.conditional:
            result["disentangle"] = _disentanglement(model, held, cfg.data.image_size, options.seed)
        else:
            notes.append("no disentanglement scores: they need an unconditional model with a posterior over latent vectors")
    result["notes"] = notes
    atomic_write(run / "evaluation.json", lambda tmp: tmp.write_text(json.dumps(result, indent=2) + "\n"))
    return result


def _likelihood_and_latent(model, held: ImageDataset, binarize: str, options: EvalOptions, notes: list[str]) -> dict:
    """IS-NLL (with the model's own prior, over all its layers), the ELBO's terms (the KL in
    closed form for the N(0, I) prior, by Monte Carlo otherwise), active units; the KL per
    dimension where its closed form holds (the N(0, I) prior)."""
    generator = torch.Generator().manual_seed(options.seed)
    # the pixels the likelihood scores: a fixed binarization for dynamically binarized data
    x = to_float(held.images, binarize, generator)
    y = held.labels if model.conditional else None
    nll = importance_weighted_nll(model, x, y, k=options.k, generator=generator).mean().item()
    closed_forms = has_standard_normal_prior(model)
    terms = elbo_terms(model, held, binarize=binarize, seed=options.seed)
    means = posterior_means(model, held.images, y)
    count, _ = active_units(means)
    latent = {"active_units": count, "latent_dim": means.shape[1]}
    if closed_forms:
        latent = {"kl_per_dim": kl_per_dimension(model, held).tolist(), **latent}
    else:
        notes.append("the ELBO's KL is a one-sample Monte Carlo estimate (no closed form for this prior); "
                     "no KL per dimension (a closed form of the N(0, I) prior)")
    return {
        "likelihood": {"k": options.k, "is_nll": nll, "bits_per_dim": bits_per_dim(nll, math.prod(held.shape)), **terms},
        "latent": latent,
    }


def _generated(model, n: int, num_classes: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """n samples (balanced over classes for conditional models) and their labels."""
    generator = torch.Generator().manual_seed(seed)
    if model.conditional:
        labels = torch.arange(n) % num_classes
        return torch.cat([model.sample(len(p), generator, p) for p in labels.split(500)]).cpu(), labels
    return torch.cat([model.sample(len(p), generator) for p in torch.arange(n).split(500)]).cpu(), None


def _with_classifier(model, train: ImageDataset, held: ImageDataset, folder: Path, options: EvalOptions) -> dict:
    clf, meta = load_classifier(folder)
    real = to_float(held.images)
    out: dict = {"classifier": {"id": meta["id"], "folder": str(folder), "held_out_accuracy": meta.get("held_out_accuracy")}}
    fake, fake_labels = _generated(model, options.samples, held.num_classes, options.seed) if model.can_sample else (None, None)
    if fake is not None:
        fr, ff = extract_features(clf, real), extract_features(clf, fake)
        precision, recall = precision_recall(fr, ff)
        out["quality"] = {"frechet_distance": frechet_distance(fr, ff), "precision": precision, "recall": recall,
                          "generated": len(fake), "classifier": meta["id"]}
    if held.labels is not None:
        out["retained"] = _retained(model, clf, meta["id"], train.subset(slice(0, options.samples)), held, real,
                                    fake, fake_labels, options.seed)
    return out


def _retained(model, clf, clf_id: str, train: ImageDataset, held: ImageDataset, real, fake, fake_labels, seed: int) -> dict:
    """CAS (on class-conditional samples, else on reconstructions) and the linear probe."""
    train_labels = train.labels if model.conditional else None
    if fake_labels is None:  # no class-conditional samples: reconstructions, labelled like their inputs
        with torch.no_grad():
            fake = model.reconstruct(to_float(train.images).to(model.device), train_labels).cpu()
        fake_labels, source = train.labels, "reconstructions"
    else:
        source = "class-conditional samples"
    cas = classification_accuracy_score(fake, fake_labels, real, held.labels, train_real=(to_float(train.images), train.labels),
                                        num_classes=held.num_classes, seed=seed)
    out = {"cas": cas["cas"], "cas_real_baseline": cas["real"], "cas_trained_on": source,
           "real_accuracy_of_classifier": accuracy(clf, real, held.labels), "classifier": clf_id}
    if _posterior_vectors(model):
        train_codes = posterior_means(model, train.images, train_labels)
        test_codes = posterior_means(model, held.images, held.labels if model.conditional else None)
        out["linear_probe"] = linear_probe(train_codes, train.labels, test_codes, held.labels)
    return out


def _posterior_vectors(model) -> bool:
    """A latent-variable model whose encode(x) is a posterior mean vector (the VAE family)."""
    return isinstance(model, LatentVariableModel) and isinstance(model, LatentVectorModel)


def _disentanglement(model, held: ImageDataset, image_size: int, seed: int) -> dict:
    encode = lambda images: posterior_means(model, images)  # noqa: E731
    score, per_factor = mig(posterior_means(model, held.images), held.factors)
    return {
        "mig": score,
        "mig_per_factor": dict(zip(held.factor_names, per_factor.tolist())),
        "beta_vae_score": beta_vae_score(encode, image_size=image_size, seed=seed),
        "factor_vae_score": factor_vae_score(encode, image_size=image_size, seed=seed),
    }


# What each figure is, printed beside it by `scorecard_lines` ({name}: a value of the same section).
DESCRIPTIONS = {
    "held_out_images": "images evaluated",
    "images_from": "which images: held-out, or training ones when none were held out",
    "likelihood.k": "importance samples per image",
    "likelihood.is_nll": "IS-NLL (k={k}), nats per image",
    "likelihood.bits_per_dim": "IS-NLL in bits/dim",
    "likelihood.recon": "-ELBO's reconstruction term, nats per image",
    "likelihood.kl": "-ELBO's KL term, nats per image",
    "likelihood.nelbo": "-ELBO = recon + KL, nats per image",
    "likelihood.kl_estimate": "how the KL was computed: closed form (N(0, I) prior) or one-sample Monte Carlo",
    "latent.kl_per_dim": "KL per latent dimension, nats",
    "latent.active_units": "active units of {latent_dim} (Cov_x E_q[z_u] > 0.01)",
    "latent.latent_dim": "latent dimensions",
    "recon.mse_per_pixel_01": "reconstruction MSE per pixel, [0, 1] scale",
    "codebook.usage": "fraction of the {num_codes} codes used",
    "codebook.perplexity": "perplexity of the code frequencies, codes",
    "codebook.num_codes": "codebook size K",
    "codebook.grid": "code grid (h, w)",
    "codebook.prior_nll": "prior NLL, nats per image",
    "codebook.prior_bits_per_code": "prior NLL, bits per code",
    "classifier.id": "classifier id (sha256 of its weights)",
    "classifier.held_out_accuracy": "its accuracy on its own held-out images",
    "quality.frechet_distance": "Frechet distance ({generated} samples, classifier features)",
    "quality.precision": "precision (k-NN manifolds)",
    "quality.recall": "recall (k-NN manifolds)",
    "quality.generated": "generated images",
    "retained.cas": "classification accuracy score, trained on {cas_trained_on}",
    "retained.cas_real_baseline": "the same classifier trained on real images",
    "retained.cas_trained_on": "what CAS trained on",
    "retained.real_accuracy_of_classifier": "the dataset classifier's accuracy on these images",
    "retained.linear_probe": "linear probe accuracy from the latent means",
    "disentangle.mig": "mutual information gap",
    "disentangle.mig_per_factor": "MIG per factor",
    "disentangle.beta_vae_score": "beta-VAE score",
    "disentangle.factor_vae_score": "FactorVAE score",
}


def format_value(value) -> str:
    """A figure as text: floats with 4 decimals (2 from 100 up), lists and dicts element-wise."""
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) >= 100 else f"{value:.4f}"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return ", ".join(f"{k} {format_value(v)}" for k, v in value.items())
    return "—" if value is None else str(value)


def scorecard_lines(result: dict) -> list[str]:
    """Every figure of an `evaluate_run` result as a line 'section.key  value  description',
    in the result's order, then its notes. Figures without a description print bare."""
    lines = []
    for section, content in result.items():
        if section == "notes":
            continue
        items = content.items() if isinstance(content, dict) else [(None, content)]
        for key, value in items:
            name = section if key is None else f"{section}.{key}"
            what = DESCRIPTIONS.get(name, "")
            if isinstance(content, dict):
                try:
                    what = what.format(**content)
                except (KeyError, IndexError):  # a value it names is missing: say it without
                    pass
            lines.append(f"{name:<34} {format_value(value):>12}  {what}".rstrip())
    return lines + [f"note: {n}" for n in result.get("notes", [])]
