"""The prior of stacked codes (a residual quantizer's S stages at every position):

    p(c_1, ..., c_S | y) = prod_s p(c_s | c_1, ..., c_{s-1}, y)

one gated PixelCNN per stage, stage s conditioned on the grids of all earlier stages (their
embeddings summed: stage s' code k is context code s' K + k). Sampling draws the stages
in order, each with the PixelCNN's incremental sampler. Codes are int64 [B, S, h, w].
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from vaelab.errors import ConfigError
from vaelab.models.base import CodePrior, LossOutput, Trainable
from vaelab.models.priors.pixelcnn import GatedPixelCNN, PixelCNNConfig


class StackedPrior(Trainable, CodePrior):
    """prod_s p(stage s | stages < s, y) over codes [B, S, h, w] of K codes per stage.

    Args:
        num_codes: K, codes per stage.
        stages: S.
        config: every stage's PixelCNN (stages after the first get context_codes = S K).
    """

    def __init__(self, num_codes: int, stages: int, config: PixelCNNConfig):
        super().__init__()
        self.num_codes, self.num_classes, self.stages = num_codes, config.num_classes, stages
        self.config = config
        later = replace(config, context_codes=stages * num_codes)
        self.levels = nn.ModuleList(GatedPixelCNN(num_codes, config if s == 0 else later) for s in range(stages))

    def _context(self, codes: Tensor, s: int) -> Tensor | None:
        """Stages < s of codes [B, S, h, w] as context codes [B, s, h, w] (offset by stage), or None."""
        if s == 0:
            return None
        offsets = torch.arange(s, device=codes.device).view(1, s, 1, 1) * self.num_codes
        return codes[:, :s] + offsets

    def stage_log_probs(self, codes: Tensor, labels: Tensor | None = None) -> list[Tensor]:
        """log p(stage s | stages < s, y) for each s, nats, [B] each."""
        if codes.dim() != 4 or codes.shape[1] != self.stages:
            raise ConfigError(f"stacked codes are int64 [B, {self.stages}, h, w], got {list(codes.shape)}")
        return [level.log_prob(codes[:, s], labels, context=self._context(codes, s)) for s, level in enumerate(self.levels)]

    def log_prob(self, codes: Tensor, labels: Tensor | None = None) -> Tensor:
        return sum(self.stage_log_probs(codes, labels))

    def forward(self, codes: Tensor, labels: Tensor | None = None) -> LossOutput:
        """-log p(codes), nats per image averaged over the batch, and each stage's part."""
        parts = self.stage_log_probs(codes, labels)
        nll = -sum(parts).mean()
        return LossOutput(nll, {"nll": nll.detach(), **{f"nll_stage{s + 1}": -p.mean().detach() for s, p in enumerate(parts)}})

    @torch.no_grad()
    def sample(self, n: int, shape: tuple[int, int, int], labels: Tensor | None = None,
               generator: torch.Generator | None = None, temperature: float = 1.0) -> Tensor:
        """n stacks [n, S, h, w] for shape (S, h, w): stage 1, then each next stage given those before."""
        if len(shape) != 3 or shape[0] != self.stages:
            raise ConfigError(f"this prior draws stacks of shape ({self.stages}, h, w), not {tuple(shape)}")
        codes = torch.zeros(n, *shape, dtype=torch.long, device=self.levels[0].embed.weight.device)
        for s, level in enumerate(self.levels):
            codes[:, s] = level.sample(n, shape[1:], labels, generator, temperature, context=self._context(codes, s))
        return codes
