"""How much the KL term weighs, step by step: beta, KL warm-up, the capacity form, and a
KL floor (free bits)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from vaelab.models.objective import ObjectiveConfig, floored_kl


class KLSchedule(nn.Module):
    """The KL part of a VAE's loss at training step t.

    weight form (beta-VAE, Higgins et al. 2017; warm-up, Bowman et al. 2016):
        penalty = beta_t * KL,            beta_t = beta * min(1, t / warmup_steps)
    capacity form (Burgess et al. 2018), when `capacity_max` is set:
        penalty = gamma * |KL - C_t|,     C_t = capacity_max * min(1, t / capacity_steps)
    free bits (Kingma et al. 2016), when `free_bits` > 0: KL is first floored per dimension
        (objective.floored_kl; over all `dims` when the KL has no per-dimension form)

    The step counter is a buffer, so it is saved with the weights and a resumed run
    continues the schedule where it stopped. It advances once per training forward
    (`loss_term`), and only when the schedule has a ramp.
    """

    def __init__(
        self,
        beta: float = 1.0,
        warmup_steps: int = 0,
        capacity_max: Optional[float] = None,
        capacity_steps: int = 0,
        gamma: float = 1000.0,
        free_bits: float = 0.0,
        dims: int = 1,
    ):
        super().__init__()
        self.beta, self.warmup_steps = beta, warmup_steps
        self.capacity_max, self.capacity_steps, self.gamma = capacity_max, capacity_steps, gamma
        self.free_bits, self.dims = free_bits, dims
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    @classmethod
    def of(cls, cfg: ObjectiveConfig, dims: int) -> "KLSchedule":
        """The schedule an ObjectiveConfig's keys describe, for a latent of `dims` dimensions."""
        return cls(cfg.beta, cfg.warmup_steps, cfg.capacity_max, cfg.capacity_steps, cfg.gamma, cfg.free_bits, dims)

    @property
    def is_plain_elbo(self) -> bool:
        """True when the penalty is exactly KL at every step (beta 1, no warm-up, no capacity, no floor)."""
        return self.capacity_max is None and self.beta == 1.0 and self.warmup_steps == 0 and not self.free_bits

    def is_done(self) -> bool:
        """True once the warm-up and capacity ramps have reached their final values."""
        ramps = [self.warmup_steps] + ([self.capacity_steps] if self.capacity_max is not None else [])
        return int(self.step) >= max(ramps)

    @staticmethod
    def _ramp(step: Tensor, steps: int) -> Tensor:
        """min(1, step / steps), computed on the buffer's device (no host sync)."""
        if steps <= 0:
            return torch.ones((), device=step.device)
        return (step.float() / steps).clamp(max=1.0)

    def weight(self) -> Tensor:
        """beta_t."""
        return self.beta * self._ramp(self.step, self.warmup_steps)

    def capacity(self) -> Tensor:
        """C_t in nats (0 when the capacity form is off)."""
        if self.capacity_max is None:
            return torch.zeros((), device=self.step.device)
        return self.capacity_max * self._ramp(self.step, self.capacity_steps)

    def penalty(self, kl: Tensor, kl_dims: Tensor | None = None) -> Tensor:
        """The KL part of the loss for a batch-mean KL `kl` (nats per example), floored by free
        bits per dimension of `kl_dims` (its batch means [D]) when given."""
        kl = floored_kl(kl_dims, kl, self.free_bits, self.dims)
        if self.capacity_max is None:
            return kl if self.is_plain_elbo else self.weight() * kl
        return self.gamma * (kl - self.capacity()).abs()

    @property
    def has_ramp(self) -> bool:
        """True when a weight changes with the step (a warm-up, or a rising capacity)."""
        return self.warmup_steps > 0 or (self.capacity_max is not None and self.capacity_steps > 0)

    def advance(self) -> None:
        """One training step more; a schedule without a ramp keeps no clock (one op a step saved)."""
        if self.has_ramp:
            self.step += 1

    def loss_term(self, kl: Tensor, kl_dims: Tensor | None, training: bool) -> Tensor:
        """`penalty(kl, kl_dims)` for this step; a training forward moves the clock by one step."""
        penalty = self.penalty(kl, kl_dims)
        if training:
            self.advance()
        return penalty
