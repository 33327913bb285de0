"""A hierarchical VAE with L stochastic layers and top-down inference (the Ladder VAE of
Sønderby et al., 2016).

Generative model, top to bottom (z_L at the top, z_1 next to x):

    p(z_L) = N(0, I),   p(z_i | z_{i+1}) = N(mu_p,i(z_{i+1}), diag var_p,i(z_{i+1})),   p(x | z_1)

Inference shares the top-down path. A deterministic bottom-up pass d_1 = encoder(x),
d_{i+1} = f_i(d_i) gives each layer a Gaussian "message" N(mu_hat_i, var_hat_i); the
posterior of the top is that message, and each lower one is the precision-weighted
product of the message and the layer's prior given the z above it:

    q(z_L | x) = N(mu_hat_L, var_hat_L)
    q(z_i | x, z_{i+1}) ∝ N(mu_hat_i, var_hat_i) · p(z_i | z_{i+1}):
        1 / var_q = 1 / var_hat + 1 / var_p,   mu_q = var_q (mu_hat / var_hat + mu_p / var_p)

so that the posterior of a layer knows what the layers above already explain. For a
linear-Gaussian hierarchy with one dimension per layer this product is the exact
posterior (tests/test_hierarchical.py checks the IS-NLL against log p(x)).

The loss is recon + sum_i KL_i, each KL_i = KL(q(z_i | x, z_{i+1}) || p(z_i | z_{i+1}))
in closed form at the sampled z_{i+1}; the objective keys (beta, warm-up, free bits, the
IWAE bound) are the VAE's. As a LatentVectorModel it shows its top layer: encode(x) is
z_L's posterior mean, decode(z_L) passes the prior means down.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vaelab.config import at_least, each_at_least
from vaelab.models.ae import NetworkConfig
from vaelab.models.base import GenerativeModel, LatentVariableModel, LatentVectorModel, LogWeights, LossOutput
from vaelab.models.gaussian import kl_normal, log_normal
from vaelab.models.likelihoods import build_likelihood
from vaelab.models.objective import ObjectiveConfig, elbo_output, importance_weighted_loss
from vaelab.models.priors.standard_normal import StandardNormalPrior
from vaelab.models.schedules import KLSchedule
from vaelab.models.networks import image_networks


@dataclass
class HVAEConfig(ObjectiveConfig, NetworkConfig):
    name: str = "hvae"
    latent_dims: list[int] = each_at_least(1, default=[32, 16])  # z_1 (next to x) .. z_L (top)
    ladder_hidden: int = at_least(1, default=256)  # width of the nets between stochastic layers

    def check_across(self, where, root) -> None:
        NetworkConfig.check_across(self, where, root)
        ObjectiveConfig.check_across(self, where, root)


# Every log-variance is kept in [-10, 10] (variances 4.5e-5 .. 2.2e4). Unbounded, a layer
# prior whose child ignores it can shrink to a point (log-variance -25 was seen after 240
# MNIST epochs), and its log-density then overflows into a NaN loss.
LOGVAR_BOUND = 10.0


def _ladder_net(n_in: int, hidden: int, n_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


class HVAE(GenerativeModel, LatentVectorModel, LatentVariableModel):
    """See the module's docstring. Terms (nats per example): recon, kl (all layers), kl1..klL.

    Your own `encoder` and `decoder` (models/networks.py) replace the backbone's: x [B, C,
    H, W] -> the bottom features d_1 [B, F], and z_1 [B, latent_dims[0]] -> p(x|z_1)'s
    parameters [B, C, H, W]; the ladder between the layers stays the model's own.
    """

    name = "hvae"

    def __init__(self, config: HVAEConfig, data_shape: tuple[int, int, int], num_classes: int | None = None,
                 *, encoder: nn.Module | None = None, decoder: nn.Module | None = None):
        super().__init__(config, data_shape, num_classes)
        dims, hidden = list(config.latent_dims), config.ladder_hidden
        self.dims = dims
        nets = image_networks(config, self.data_shape, dims[0], encoder, decoder)
        self.config = nets.config
        self.encoder, self.decoder = nets.encoder, nets.decoder  # x -> d_1 [B, F];  z_1 -> p(x|z_1)'s parameters
        self.likelihood = build_likelihood(config.likelihood, config.variance)
        widths = [nets.out_shape[0]] + [hidden] * (len(dims) - 1)
        self.up = nn.ModuleList(nn.Sequential(nn.Linear(widths[i], hidden), nn.ReLU()) for i in range(len(dims) - 1))
        self.messages = nn.ModuleList(nn.Linear(widths[i], 2 * d) for i, d in enumerate(dims))  # d_i -> (mu_hat, logvar_hat)
        self.priors = nn.ModuleList(_ladder_net(dims[i + 1], hidden, 2 * dims[i]) for i in range(len(dims) - 1))
        self.prior = StandardNormalPrior(dims[-1])  # p(z_L)
        self.kl_schedule = KLSchedule.of(config, sum(dims))

    @property
    def latent_dim(self) -> int:
        return self.dims[-1]

    @property
    def noise_dim(self) -> int:
        return sum(self.dims)

    def bottom_up(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """x [B, C, H, W] -> each layer's message (mu_hat, logvar_hat), [B, D_i] each, layer 1 first."""
        d, out = self.encoder(x), []
        for i, message in enumerate(self.messages):
            if i > 0:
                d = self.up[i - 1](d)
            mu, logvar = message(d).chunk(2, dim=-1)
            out.append((mu, logvar.clamp(-LOGVAR_BOUND, LOGVAR_BOUND)))
        return out

    def layer_prior(self, i: int, z_above: Tensor) -> tuple[Tensor, Tensor]:
        """(mu_p, logvar_p) of p(z_i | z_{i+1}) (0-based i < L - 1), shaped like z_above's batch dims."""
        mu, logvar = self.priors[i](z_above).chunk(2, dim=-1)
        return mu, logvar.clamp(-LOGVAR_BOUND, LOGVAR_BOUND)

    def top_down(self, messages: list[tuple[Tensor, Tensor]], eps: Tensor) -> tuple[Tensor, LogWeights, list[Tensor]]:
        """Sample every layer from the top. messages: bottom_up's, [B, D_i]; eps [B, S, sum D_i]
        (layer 1's noise first). Returns z_1 [B, S, D_1], log p(z) and log q(z|x) as LogWeights
        with log_px_z left 0, and each layer's closed-form KL per dimension [B, S, D_i]."""
        noise = eps.split(self.dims, dim=-1)
        z, log_pz, log_qz, kls = None, 0.0, 0.0, [None] * len(self.dims)
        for i in reversed(range(len(self.dims))):
            mu_hat, logvar_hat = (t[:, None] for t in messages[i])  # [B, 1, D_i]
            if z is None:  # the top: N(0, I) prior, the message is the posterior
                mu_p, logvar_p = torch.zeros_like(mu_hat), torch.zeros_like(logvar_hat)
                mu_q, logvar_q = mu_hat, logvar_hat
            else:
                mu_p, logvar_p = self.layer_prior(i, z)  # [B, S, D_i]
                logvar_q = -torch.logaddexp(-logvar_hat, -logvar_p)  # 1/var_q = 1/var_hat + 1/var_p
                # mu_q = var_q (mu_hat / var_hat + mu_p / var_p), written with weights that cannot overflow
                mu_q = mu_hat * torch.sigmoid(logvar_p - logvar_hat) + mu_p * torch.sigmoid(logvar_hat - logvar_p)
            z = mu_q + torch.exp(0.5 * logvar_q) * noise[i]
            log_pz = log_pz + log_normal(z, mu_p, logvar_p)
            log_qz = log_qz + log_normal(z, mu_q, logvar_q)
            kls[i] = kl_normal(mu_q, logvar_q, mu_p, logvar_p)
        return z, LogWeights(torch.zeros_like(log_pz), log_pz, log_qz), kls

    def log_weights(self, x: Tensor, y: Tensor | None, eps: Tensor) -> LogWeights:
        b, s, _ = eps.shape
        z1, w, _ = self.top_down(self.bottom_up(x), eps)
        out = self.decoder(z1.flatten(0, 1))  # [B*S, C, H, W], image-major
        log_px_z = -self.likelihood.nll(out, x.repeat_interleave(s, dim=0)).view(b, s)
        return LogWeights(log_px_z, w.log_pz, w.log_qz)

    def forward(self, x: Tensor, y: Tensor | None = None) -> LossOutput:
        k = self.config.iw_samples
        eps = torch.randn(len(x), k, self.noise_dim, device=x.device)  # [B, k, sum D]
        if k > 1:
            loss, recon, kl = importance_weighted_loss(self.log_weights(x, y, eps))
            return elbo_output(loss, recon, kl, plain=False)
        z1, _, kls = self.top_down(self.bottom_up(x), eps)
        recon = self.likelihood.nll(self.decoder(z1[:, 0]), x).mean()
        kl_dims = torch.cat([kl[:, 0].mean(0) for kl in kls])  # batch-mean KL of every dimension, [sum D]
        kl = kl_dims.sum()
        penalty = self.kl_schedule.loss_term(kl, kl_dims, self.training)
        layers = {f"kl{i + 1}": layer[:, 0].sum(-1).mean() for i, layer in enumerate(kls)}
        return elbo_output(recon + penalty, recon, kl, plain=self.kl_schedule.is_plain_elbo, **layers)

    def objective_is_final(self) -> bool:
        return self.kl_schedule.is_done()

    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The top layer's posterior mean, [B, D_L]."""
        return self.bottom_up(x)[-1][0]

    def _down_from_top(self, z: Tensor, generator: torch.Generator | None = None, scale: float = 0.0) -> Tensor:
        """z_L [B, D_L] -> z_1 [B, D_1] through the layer priors: their means (scale 0), or draws."""
        for i in reversed(range(len(self.dims) - 1)):
            mu_p, logvar_p = self.layer_prior(i, z)
            where = generator.device if generator is not None else "cpu"
            noise = torch.randn(mu_p.shape, generator=generator, device=where).to(mu_p.device) if scale else 0.0
            z = mu_p + scale * torch.exp(0.5 * logvar_p) * noise
        return z

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z_L [B, D_L] -> images [B, C, H, W], the lower layers at their prior means."""
        return self.likelihood.mean(self.decoder(self._down_from_top(z)))

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """x through every layer's posterior mean (eps = 0), then the decoder's mean."""
        z1, _, _ = self.top_down(self.bottom_up(x), torch.zeros(len(x), 1, self.noise_dim, device=x.device))
        return self.likelihood.mean(self.decoder(z1[:, 0]))

    @property
    def can_sample(self) -> bool:
        return True

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, labels: Tensor | None = None) -> Tensor:
        """z_L ~ N(0, I), then each z_i ~ p(z_i | z_{i+1}), then the decoder's mean."""
        z1 = self._down_from_top(self.prior.sample(n, generator), generator, scale=1.0)
        return self.likelihood.mean(self.decoder(z1))
