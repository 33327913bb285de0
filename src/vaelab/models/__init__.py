"""The autoencoder family behind one interface (base.GenerativeModel) and declared capabilities.

    base          GenerativeModel, LossOutput, Trainable; the capabilities LatentVectorModel,
                  GaussianLatentModel, CodeGridModel; the priors' interfaces LatentPrior, CodePrior
    ae, vae, cvae, infovae, hvae, vqvae    the models; registry: name -> (class, config class)
    objective     what a VAE minimises: KL weight and schedule keys, free bits, the IWAE bound
    priors/       N(0, I), the VampPrior, and the gated PixelCNN over code grids
    quantizers/   the quantizer family (vq, ema) and Lloyd-Max / LBG
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
from vaelab.models.hvae import HVAE, HVAEConfig
from vaelab.models.infovae import InfoVAE, InfoVAEConfig
from vaelab.models.registry import MODELS, build_model, config_class, model_class
from vaelab.models.vae import VAE, BetaVAEConfig, VAEConfig
from vaelab.models.vqvae import VQVAE, VQVAEConfig

__all__ = [
    "AE",
    "AEConfig",
    "BetaVAEConfig",
    "CVAE",
    "CVAEConfig",
    "CodeGridModel",
    "CodePrior",
    "GaussianLatentModel",
    "GenerativeModel",
    "HVAE",
    "HVAEConfig",
    "InfoVAE",
    "InfoVAEConfig",
    "LatentPrior",
    "LatentVariableModel",
    "LatentVectorModel",
    "LogWeights",
    "LossOutput",
    "MODELS",
    "Trainable",
    "VAE",
    "VAEConfig",
    "VQVAE",
    "VQVAEConfig",
    "build_model",
    "config_class",
    "model_class",
    "parameter_counts",
    "require",
]
