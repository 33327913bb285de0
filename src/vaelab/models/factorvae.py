"""FactorVAE (Kim & Mnih, 2018): penalise the total correlation of q(z), estimated by a
discriminator that tells codes z ~ q(z) from codes whose dimensions were shuffled across
the batch (samples of prod_j q(z_j)):

    TC = KL(q(z) || prod_j q(z_j)) ~ E_q(z)[log D(z) / (1 - D(z))] = E[logit_real(z) - logit_shuffled(z)]
    VAE loss    = recon + KL + gamma * TC                              (nats per example)
    critic loss = (CE(D(z), real) + CE(D(shuffle(z)), shuffled)) / 2  (z detached; the paper's 1/2m)

The discriminator is a critic (HasCritic): its loss is added to the model's and computed
on detached codes, and the VAE reads it through detached weights, so one backward pass
gives the encoder the gradient that fools the discriminator and the discriminator the
gradient that catches it; the trainer gives it its own Adam settings (the paper's lr
1e-4, betas (0.5, 0.9)). Trade-off: the paper shuffles a second batch; this shuffles the
same one (one forward per step; the TC estimate is then a little biased on small batches).
Data-parallel, each process shuffles and judges its own share of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vaelab.config import above, at_least
from vaelab.models.base import HasCritic, LossOutput
from vaelab.models.objective import elbo_output
from vaelab.models.vae import VAE, VAEConfig


@dataclass
class FactorVAEConfig(VAEConfig):
    name: str = "factorvae"
    tc_weight: float = at_least(0, default=10.0)  # gamma, on the discriminator's TC estimate
    critic_hidden: int = at_least(1, default=1000)  # width of the discriminator's 5 hidden layers (the paper's MLP)
    critic_layers: int = at_least(1, default=5)
    critic_lr: float = above(0, default=1e-4)
    takes_iwae_and_priors = False  # the discriminator judges one sample's codes against N(0, I)'s shape
    takes_sharpness = False  # its forward builds its own loss (sharpening: vae, beta-vae, cvae, vqvae, vqvae2)


def shuffle_dimensions(z: Tensor) -> Tensor:
    """Each column of z [B, D] permuted independently across the batch: samples of prod_j q(z_j)."""
    keys = torch.rand(z.shape, device=z.device)
    return torch.gather(z, 0, keys.argsort(dim=0))


class Discriminator(nn.Module):
    """z [B, D] -> logits [B, 2]: (real, shuffled). `frozen=True` reads detached weights."""

    def __init__(self, latent_dim: int, hidden: int, layers: int):
        super().__init__()
        sizes = [latent_dim] + [hidden] * layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.out = nn.Linear(sizes[-1], 2)

    def forward(self, z: Tensor, frozen: bool = False) -> Tensor:
        def linear(layer: nn.Linear, h: Tensor) -> Tensor:
            return F.linear(h, layer.weight.detach(), layer.bias.detach()) if frozen else layer(h)

        for layer in self.hidden:
            z = F.leaky_relu(linear(layer, z), 0.2)
        return linear(self.out, z)


class FactorVAE(VAE, HasCritic):
    """Terms: recon, kl (closed form), tc (the discriminator's estimate), critic (its loss), nelbo."""

    name = "factorvae"
    critic_betas = (0.5, 0.9)

    def __init__(self, config: FactorVAEConfig, data_shape: tuple[int, int, int], num_classes: int | None = None,
                 *, encoder: nn.Module | None = None, decoder: nn.Module | None = None):
        super().__init__(config, data_shape, num_classes, encoder=encoder, decoder=decoder)
        self.discriminator = Discriminator(config.latent_dim, config.critic_hidden, config.critic_layers)
        self.critic_lr = config.critic_lr

    def critic_parameters(self) -> list[nn.Parameter]:
        return list(self.discriminator.parameters())

    def forward(self, x: Tensor, y: Tensor | None = None) -> LossOutput:
        t = self.elbo_terms(x, y)
        z = t.z
        logits = self.discriminator(z, frozen=True).float()  # [B, 2]: the encoder's opponent, weights held
        tc = (logits[:, 0] - logits[:, 1]).mean()
        real, shuffled = z.detach(), shuffle_dimensions(z.detach())
        critic_logits = self.discriminator(torch.cat([real, shuffled])).float()  # [2B, 2]
        targets = torch.arange(2, device=x.device).repeat_interleave(len(z))  # 0: real, 1: shuffled; made on the device
        critic = F.cross_entropy(critic_logits, targets)
        loss = t.recon + self.kl_penalty(t) + self.config.tc_weight * tc + critic
        return elbo_output(loss, t.recon, t.kl, plain=False, tc=tc, critic=critic)
