"""Reconstruction losses beyond the pixel-wise likelihood, against its blur: a perceptual
loss in a classifier's features and an adversarial patch critic (VAE-GAN, VQGAN style).

With x the image, x_hat = E[x | z] the decoder's mean, phi_l the ReLU features of layer l
of a vaelab classifier (`vaelab classifier train`, frozen; pretrained networks cannot be
downloaded here, and a user with one can save it in that format) and D a patch
critic whose logits [B, 1, h, w] judge overlapping patches:

    perceptual  = w_p sum_l mean_{c,h,w} (phi_l(x_hat) - phi_l(x))^2          per example, batch mean
    adversarial = w_a lambda (-mean D(x_hat))                                  (hinge generator loss)
    critic      = mean relu(1 - D(x)) + mean relu(1 + D(sg(x_hat)))           (hinge, Lim & Ye, 2017)
    lambda      = ||grad_w recon|| / (||grad_w adversarial / w_a|| + 1e-4)  on the decoder's last weight w

lambda (Esser et al., 2021) balances the two gradients where they meet the image, so
w_a means the same whatever the likelihood's scale. Both adversarial terms are zero
before `adversarial_start` training steps: the critic should judge reconstructions
that already look like images. The critic is a HasCritic network: its loss is added to
the model's, on detached images, and the model reads it through detached weights, so one
backward trains both (see models/base.py).

The terms are training-only (held-out numbers are the likelihood's and the MSE); they are
not in nats, and the loss is then no longer a bound (`nelbo` still reports the ELBO).
The classifier is read on the first training step and kept outside the module tree: its
weights are not the model's (not in checkpoints, not trained).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from vaelab.config import ModelSection, above, at_least
from vaelab.errors import ConfigError
from vaelab.nn.small_cnn import SmallCNN, load_classifier


@dataclass
class SharpnessConfig(ModelSection):
    """The keys of the sharpening losses, shared by the models that take them."""

    perceptual_weight: float = at_least(0, default=0.0)  # w_p (0: off)
    perceptual_classifier: Optional[str] = None  # folder of a vaelab classifier for this dataset
    adversarial_weight: float = at_least(0, default=0.0)  # w_a (0: off)
    adversarial_start: int = at_least(0, default=0)  # training steps before the critic plays
    critic_channels: int = at_least(1, default=64)  # the patch critic's first width (doubles per layer)
    critic_layers: int = at_least(1, default=3)  # its stride-2 convolutions
    critic_lr: float = above(0, default=1e-4)

    takes_sharpness = True  # models whose forward has no place for these terms set False

    @property
    def sharpened(self) -> bool:
        return self.perceptual_weight > 0 or self.adversarial_weight > 0

    def check_across(self, where: str, root: Any) -> None:
        if self.sharpened and not self.takes_sharpness:
            raise ConfigError(f"{self.name} does not take the sharpening losses: leave {where}perceptual_weight and "
                              f"{where}adversarial_weight at 0")
        if self.perceptual_weight > 0 and not self.perceptual_classifier:
            raise ConfigError(f"{where}perceptual_weight > 0 needs {where}perceptual_classifier: the folder of a "
                              f"classifier for this dataset (`vaelab classifier train`)")


def sharpening_terms(sharpener: "Sharpener | None", x: Tensor, out: Tensor, likelihood: nn.Module, recon: Tensor,
                     decoder: nn.Module) -> dict[str, Tensor]:
    """A model's sharpening terms for the decoder output `out` (judged as likelihood.mean(out);
    lambda read at the last layer of `decoder`), or {} when it has no sharpener: then
    nothing is computed."""
    if sharpener is None:
        return {}
    return sharpener.terms(x, likelihood.mean(out), recon, last_weight(decoder))


def last_weight(decoder: nn.Module) -> Tensor:
    """The weight of the decoder's last linear or convolutional layer: where lambda compares gradients."""
    return [m for m in decoder.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d))][-1].weight


def critic_parameters(sharpener: "Sharpener | None") -> list[nn.Parameter]:
    """The patch critic's parameters, or [] without one (HasCritic for the models that take it)."""
    return [] if sharpener is None or sharpener.critic is None else list(sharpener.critic.parameters())


class PatchCritic(nn.Module):
    """x [B, C, H, W] -> logits [B, 1, h, w], one per overlapping patch: `layers` stride-2
    4x4 convolutions (width doubling from `channels`), leaky ReLUs, a 3x3 to one logit.
    `frozen=True` reads detached weights (the model's opponent, see the module doc)."""

    def __init__(self, in_channels: int, channels: int, layers: int):
        super().__init__()
        widths = [in_channels] + [channels * 2**i for i in range(layers)]
        convs: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            convs += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*convs, nn.Conv2d(widths[-1], 1, 3, padding=1))

    def forward(self, x: Tensor, frozen: bool = False) -> Tensor:
        if not frozen:
            return self.net(x)
        return functional_call(self, {k: v.detach() for k, v in self.named_parameters()}, (x,))


def feature_maps(classifier: SmallCNN, x: Tensor) -> list[Tensor]:
    """The classifier's activations after each ReLU of its body, [B, ...] each."""
    maps = []
    for layer in classifier.body:
        x = layer(x)
        if isinstance(layer, nn.ReLU):
            maps.append(x)
    return maps


def perceptual_distance(classifier: SmallCNN, x_hat: Tensor, x: Tensor) -> Tensor:
    """sum_l mean_{c,h,w} (phi_l(x_hat) - phi_l(x))^2, averaged over the batch: a scalar."""
    with torch.no_grad():
        target = feature_maps(classifier, x)
    return sum((a - b).pow(2).flatten(1).mean(1) for a, b in zip(feature_maps(classifier, x_hat), target)).mean()


def hinge_critic_loss(real: Tensor, fake: Tensor) -> Tensor:
    """mean relu(1 - D(x)) + mean relu(1 + D(x_hat)) from the critic's logits on each."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def adaptive_weight(recon: Tensor, adversarial: Tensor, last_weight: Tensor) -> Tensor:
    """||grad_w recon|| / (||grad_w adversarial|| + 1e-4), clamped to [0, 1e4], detached."""
    g_rec = torch.autograd.grad(recon, last_weight, retain_graph=True)[0]
    g_adv = torch.autograd.grad(adversarial, last_weight, retain_graph=True)[0]
    return (g_rec.norm() / (g_adv.norm() + 1e-4)).clamp(0, 1e4).detach()


class Sharpener(nn.Module):
    """The sharpening terms of one model (see the module doc): `terms(x, x_hat, recon, w)`.
    A model builds one only when config.sharpened, so that the checkpoints of models
    without it keep exactly their keys."""

    def __init__(self, config: SharpnessConfig, data_shape: tuple[int, int, int]):
        super().__init__()
        self.config, self.data_shape = config, tuple(data_shape)
        self.critic = PatchCritic(data_shape[0], config.critic_channels, config.critic_layers) \
            if config.adversarial_weight > 0 else None
        self._classifier: list[SmallCNN] = []  # a list: kept out of the module tree and the state dict
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def classifier(self, device: torch.device) -> SmallCNN:
        """The frozen classifier of config.perceptual_classifier, read once."""
        if not self._classifier:
            net, meta = load_classifier(self.config.perceptual_classifier, device)
            if tuple(meta["data_shape"]) != self.data_shape:
                raise ConfigError(f"the perceptual classifier takes images {meta['data_shape']}, the model "
                                  f"{list(self.data_shape)}")
            self._classifier.append(net.requires_grad_(False))
        return self._classifier[0]

    def terms(self, x: Tensor, x_hat: Tensor, recon: Tensor, last_weight: Tensor) -> dict[str, Tensor]:
        """{perceptual, adversarial, critic} to add to the loss (each present when on); {} outside training."""
        if not self.training:
            return {}
        c, out = self.config, {}
        if c.perceptual_weight > 0:
            out["perceptual"] = c.perceptual_weight * perceptual_distance(self.classifier(x.device), x_hat, x)
        if self.critic is not None:
            playing = (self.step >= c.adversarial_start).float()  # a tensor: no host sync
            fooling = -self.critic(x_hat, frozen=True).mean()
            weight = adaptive_weight(recon, fooling, last_weight)
            out["adversarial"] = playing * c.adversarial_weight * weight * fooling
            out["critic"] = playing * hinge_critic_loss(self.critic(x), self.critic(x_hat.detach()))
        self.step += 1
        return out
