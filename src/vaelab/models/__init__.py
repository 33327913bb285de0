"""The autoencoder family behind one interface (see base.GenerativeModel)."""

from vaelab.models.ae import AE, AEConfig
from vaelab.models.base import GenerativeModel, LossOutput
from vaelab.models.registry import MODELS, build_model, config_class
from vaelab.models.vae import VAE, VAEConfig

__all__ = ["AE", "AEConfig", "GenerativeModel", "LossOutput", "MODELS", "VAE", "VAEConfig", "build_model", "config_class"]
