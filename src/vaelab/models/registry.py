"""Model names -> classes and their config dataclasses. A new model is one line here."""

from __future__ import annotations

from torch import nn

from vaelab.errors import ConfigError
from vaelab.models.ae import AE, AEConfig
from vaelab.models.base import GenerativeModel
from vaelab.models.cvae import CVAE, CVAEConfig
from vaelab.models.factorvae import FactorVAE, FactorVAEConfig
from vaelab.models.hvae import HVAE, HVAEConfig
from vaelab.models.infovae import InfoVAE, InfoVAEConfig
from vaelab.models.oivae import OIVAE, OIVAEConfig
from vaelab.models.tcvae import BetaTCVAE, BetaTCVAEConfig
from vaelab.models.vae import VAE, BetaVAEConfig, VAEConfig
from vaelab.models.vqvae import VQVAE, VQVAEConfig
from vaelab.models.vqvae2 import VQVAE2, VQVAE2Config

MODELS: dict[str, tuple[type[GenerativeModel], type]] = {
    "ae": (AE, AEConfig),
    "vae": (VAE, VAEConfig),
    "beta-vae": (VAE, BetaVAEConfig),
    "cvae": (CVAE, CVAEConfig),
    "infovae": (InfoVAE, InfoVAEConfig),
    "hvae": (HVAE, HVAEConfig),
    "beta-tcvae": (BetaTCVAE, BetaTCVAEConfig),
    "factorvae": (FactorVAE, FactorVAEConfig),
    "oi-vae": (OIVAE, OIVAEConfig),
    "vqvae": (VQVAE, VQVAEConfig),
    "vqvae2": (VQVAE2, VQVAE2Config),
}


def _entry(name: str) -> tuple[type[GenerativeModel], type]:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name]


def model_class(name: str) -> type[GenerativeModel]:
    """The class of the model called `name` (what it declares can be asked before building one)."""
    return _entry(name)[0]


def config_class(name: str) -> type:
    """The config dataclass of the model called `name`."""
    return _entry(name)[1]


def build_model(config, data_shape: tuple[int, int, int], num_classes: int | None = None,
                **networks: nn.Module) -> GenerativeModel:
    """A fresh model for images of `data_shape` (C, H, W), and `num_classes` labels if it uses them;
    `networks` (encoder=..., decoder=...) are your own modules in place of the built-in ones
    (models/networks.py says what each model takes)."""
    return model_class(config.name)(config, data_shape, num_classes, **networks)
