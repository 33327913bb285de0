"""The autoencoder family behind one interface (see base.GenerativeModel)."""

from vaelab.models.ae import AE, AEConfig
from vaelab.models.base import GenerativeModel, LossOutput
from vaelab.models.cvae import CVAE, CVAEConfig
from vaelab.models.infovae import InfoVAE, InfoVAEConfig
from vaelab.models.registry import MODELS, build_model, config_class
from vaelab.models.vae import VAE, BetaVAEConfig, VAEConfig
from vaelab.models.vqvae import VQVAE, VQVAEConfig

__all__ = [
    "AE",
    "AEConfig",
    "BetaVAEConfig",
    "CVAE",
    "CVAEConfig",
    "GenerativeModel",
    "InfoVAE",
    "InfoVAEConfig",
    "LossOutput",
    "MODELS",
    "VAE",
    "VAEConfig",
    "VQVAE",
    "VQVAEConfig",
    "build_model",
    "config_class",
]
