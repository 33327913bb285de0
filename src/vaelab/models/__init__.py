"""The autoencoder family behind one interface (base.GenerativeModel) and declared capabilities.

    base          GenerativeModel, LossOutput, Trainable; the capabilities LatentVectorModel,
                  LatentVariableModel, GaussianLatentModel, CodeGridModel, ...; the priors'
                  interfaces LatentPrior, CodePrior; save_pretrained
    ae, vae, cvae, infovae, hvae, tcvae, factorvae, oivae    the flat-latent models
    vqvae, vqvae2 (code_model)                                the code-grid models
    registry      name -> (class, config class); build_model (your own networks: networks.py)
    networks      a model's encoder and decoder: yours, or the built-in backbone, checked once
    objective     what a VAE minimises: KL weight and schedule keys, free bits, the IWAE bound
    priors/       N(0, I), the VampPrior, the gated PixelCNN over code grids, stacked and two-level
    quantizers/   the quantizer family (vq, ema, cosine, residual, fsq, gumbel; as layers:
                  vaelab.quantizers) and Lloyd-Max / LBG
"""

from vaelab.models.ae import AE, AEConfig
from vaelab.models.base import (
    CodeGridModel,
    CodePrior,
    GaussianLatentModel,
    GenerativeModel,
    LatentPrior,
    LatentVariableModel,
    LatentVectorModel,
    LogWeights,
    LossOutput,
    Trainable,
    parameter_counts,
    require,
)
from vaelab.models.cvae import CVAE, CVAEConfig
from vaelab.models.factorvae import FactorVAE, FactorVAEConfig
from vaelab.models.hvae import HVAE, HVAEConfig
from vaelab.models.infovae import InfoVAE, InfoVAEConfig
from vaelab.models.oivae import OIVAE, OIVAEConfig
from vaelab.models.registry import MODELS, build_model, config_class, model_class
from vaelab.models.tcvae import BetaTCVAE, BetaTCVAEConfig
from vaelab.models.vae import VAE, BetaVAEConfig, VAEConfig
from vaelab.models.vqvae import VQVAE, VQVAEConfig
from vaelab.models.vqvae2 import VQVAE2, VQVAE2Config

__all__ = [
    "AE", "AEConfig", "BetaTCVAE", "BetaTCVAEConfig", "BetaVAEConfig", "CVAE", "CVAEConfig", "CodeGridModel",
    "CodePrior", "FactorVAE", "FactorVAEConfig", "GaussianLatentModel", "GenerativeModel", "HVAE", "HVAEConfig",
    "InfoVAE", "InfoVAEConfig", "LatentPrior", "LatentVariableModel", "LatentVectorModel", "LogWeights",
    "LossOutput", "MODELS", "OIVAE", "OIVAEConfig", "Trainable", "VAE", "VAEConfig", "VQVAE", "VQVAE2",
    "VQVAE2Config", "VQVAEConfig", "build_model", "config_class", "model_class", "parameter_counts", "require",
]
