"""Evaluation of trained models: likelihoods, latent statistics, sample quality, disentanglement.

    likelihood          importance_weighted_nll, bits_per_dim, elbo_terms
    latent_stats        posterior_means, kl_per_dimension, active_units, reconstruction_mse
    codebook            code_grids, codebook_scores (a VQ-VAE's codebook use, its prior's NLL)
    classifier          SmallCNN, train_classifier, accuracy, extract_features,
                        save_classifier, load_classifier, classification_accuracy_score
    frechet             frechet_distance (and feature_statistics, sqrtm_psd)
    precision_recall    precision_recall (improved, k-NN manifolds)
    probe               linear_probe (and fit_logistic_regression)
    disentanglement     mig, beta_vae_score, factor_vae_score

Each function takes a model and tensors (nothing opens run folders: vaelab.runs does) and
checks the capabilities it needs (models/base.py), refusing other models with a
CapabilityError. Nothing here prints or exits; errors a user can cause raise vaelab.errors.
"""

from vaelab.evaluation.classifier import (
    accuracy,
    classification_accuracy_score,
    extract_features,
    save_classifier,
    train_classifier,
)
from vaelab.evaluation.codebook import code_grids, codebook_scores
from vaelab.nn.small_cnn import SmallCNN, load_classifier  # the network lives in nn/: models train against it too
from vaelab.evaluation.disentanglement import beta_vae_score, factor_vae_score, mig
from vaelab.evaluation.frechet import feature_statistics, frechet_distance
from vaelab.evaluation.latent_stats import (
    active_units,
    kl_per_dimension,
    posterior_means,
    reconstruction_mse,
)
from vaelab.evaluation.likelihood import (
    bits_per_dim,
    elbo_terms,
    importance_weighted_nll,
)
from vaelab.evaluation.precision_recall import precision_recall
from vaelab.evaluation.probe import fit_logistic_regression, linear_probe

__all__ = [
    "SmallCNN",
    "accuracy",
    "active_units",
    "beta_vae_score",
    "bits_per_dim",
    "classification_accuracy_score",
    "code_grids",
    "codebook_scores",
    "elbo_terms",
    "extract_features",
    "factor_vae_score",
    "feature_statistics",
    "fit_logistic_regression",
    "frechet_distance",
    "importance_weighted_nll",
    "kl_per_dimension",
    "linear_probe",
    "load_classifier",
    "mig",
    "posterior_means",
    "precision_recall",
    "reconstruction_mse",
    "save_classifier",
    "train_classifier",
]
