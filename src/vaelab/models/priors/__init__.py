"""Priors: N(0, I) and the VampPrior over latent vectors; the gated PixelCNN over grids of codes,
one per level for a two-level code model (VQ-VAE-2) or per stage of stacked codes."""

from vaelab.models.priors.pixelcnn import GatedPixelCNN, PixelCNNConfig
from vaelab.models.priors.standard_normal import (
    StandardNormalPrior,
    has_standard_normal_prior,
    require_standard_normal_prior,
)
from vaelab.models.priors.stacked import StackedPrior
from vaelab.models.priors.two_level import TwoLevelPrior, join_levels, split_levels
from vaelab.models.priors.vamp import VampPrior

__all__ = [
    "GatedPixelCNN",
    "PixelCNNConfig",
    "StackedPrior",
    "StandardNormalPrior",
    "TwoLevelPrior",
    "VampPrior",
    "has_standard_normal_prior",
    "join_levels",
    "require_standard_normal_prior",
    "split_levels",
]
