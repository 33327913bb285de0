"""Priors: N(0, I) and the VampPrior over latent vectors, and the gated PixelCNN over grids of codes."""

from vaelab.models.priors.pixelcnn import GatedPixelCNN, PixelCNNConfig
from vaelab.models.priors.standard_normal import (
    StandardNormalPrior,
    has_standard_normal_prior,
    require_standard_normal_prior,
)
from vaelab.models.priors.vamp import VampPrior

__all__ = [
    "GatedPixelCNN",
    "PixelCNNConfig",
    "StandardNormalPrior",
    "VampPrior",
    "has_standard_normal_prior",
    "require_standard_normal_prior",
]
