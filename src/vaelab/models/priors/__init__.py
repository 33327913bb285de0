"""Priors: N(0, I) over latent vectors, and the gated PixelCNN over grids of codes."""

from vaelab.models.priors.pixelcnn import GatedPixelCNN, PixelCNNConfig
from vaelab.models.priors.standard_normal import (
    StandardNormalPrior,
    has_standard_normal_prior,
    require_standard_normal_prior,
)

__all__ = [
    "GatedPixelCNN",
    "PixelCNNConfig",
    "StandardNormalPrior",
    "has_standard_normal_prior",
    "require_standard_normal_prior",
]
