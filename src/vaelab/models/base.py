"""What every model is, and what some models can do: the interfaces the rest of vaelab speaks.

Every model is a `GenerativeModel`: encode, decode, forward -> LossOutput, sample,
reconstruct. What only some models can do is declared by inheriting a capability:

    LatentVectorModel     one latent vector z [B, D] per image         latent scatter, traversal
    LatentVariableModel   p(x, z) and a posterior q(z|x) sampled from  IS-NLL, IWAE bound,
                          standard normal noise: log_weights           ELBO terms (Monte Carlo KL)
    GaussianLatentModel   q(z|x) one diagonal Gaussian, p(x|z) a       KL per dimension, active
                          likelihood, p(z) a LatentPrior               units (closed forms)
    CodeGridModel         a grid of integer codes [B, h, w] per        codebook use, a CodePrior
                          image, generated through a CodePrior         to train and sample from
    TrainingSetSized      an objective that needs N, the training      the run sets N before training
                          set's size
    HasCritic             a critic trained against the model           the critic's own optimizer settings
    GroupedOutputs        a generator per group of observed variables  the latent x group heatmap
    Proximal              a penalty applied by a proximal step         the trainer's call after each update

Code that needs a capability checks it with `require(model, Capability, what)` (an
isinstance test), never by probing for attributes: a model that does not declare a
capability is refused with a clear message instead of being scored by a formula meant
for another model. A model that declares one must provide its methods (they are
abstract: Python refuses to build a model that lacks one) and set its attributes.

`Trainable` is what the training loop drives: every GenerativeModel, and a code prior.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn

from vaelab import run_files
from vaelab.config import DataConfig, RunConfig, to_dict
from vaelab.errors import CapabilityError, ConfigError, RunError
from vaelab.models.gaussian import log_normal
from vaelab.nn.device import module_device


@dataclass
class LossOutput:
    """What `model(x)` returns.

    loss:  scalar to minimise, in nats per example (summed over the data dimensions,
           averaged over the batch); carries gradients.
    terms: named scalars in the same units (recon, kl, ...), detached, for logging.
    """

    loss: Tensor
    terms: dict[str, Tensor]


class Trainable(nn.Module):
    """A module the training loop can drive: forward(x, y) -> LossOutput, plus three hooks
    (defaults here) around each pass through the data."""

    def forward(self, x: Tensor, y: Tensor | None = None) -> LossOutput:
        raise NotImplementedError

    def reset_epoch_stats(self) -> None:
        """Start gathering figures over a pass through the data (see `epoch_stats`)."""

    def epoch_stats(self) -> dict[str, float]:
        """Figures gathered since `reset_epoch_stats` that no batch alone gives (e.g. the
        fraction of a codebook in use); the trainer logs them every epoch."""
        return {}

    def objective_is_final(self) -> bool:
        """False while a schedule (e.g. KL warm-up) still changes what the loss measures:
        losses of such epochs are not compared with later ones to pick the best checkpoint."""
        return True


class GenerativeModel(Trainable):
    """Base class: `encode`, `decode`, `forward` -> LossOutput, `sample`, `reconstruct`.

    Images are float tensors [B, C, H, W] with pixels in [0, 1]. `y` is an optional
    label batch, int64 [B]: conditional models need it, the others ignore it.
    """

    name: str = "base"
    conditional: bool = False  # True when the model takes a class label
    num_classes: int | None = None  # classes of the labels a conditional model takes

    def __init__(self, config, data_shape: tuple[int, int, int], num_classes: int | None = None):
        super().__init__()
        self.config = config
        self.data_shape = tuple(data_shape)

    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """x [B, C, H, W] -> the latent point that represents it (a posterior mean, a code)."""
        raise NotImplementedError

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z -> the image the model expects for it, [B, C, H, W] in [0, 1]."""
        raise NotImplementedError

    @property
    def can_sample(self) -> bool:
        """True when the model has a prior to draw from (a plain AE has none; a VQ-VAE once
        its code prior is attached)."""
        return False

    def sample(self, n: int, generator: torch.Generator | None = None, labels: Tensor | None = None) -> Tensor:
        """n images drawn from the model, [n, C, H, W] in [0, 1] (of class `labels` [n], if conditional)."""
        raise CapabilityError(f"model {self.name!r} has no prior to sample from")

    @torch.no_grad()
    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """decode(encode(x)): [B, C, H, W] -> [B, C, H, W] in [0, 1]."""
        return self.decode(self.encode(x, y), y)

    @property
    def device(self) -> torch.device:
        return module_device(self)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write the model into `folder` the way a run folder holds it, so that
        `vaelab.load(folder)` opens it (run_files.py): config.yaml (the model's section;
        data.name: none, since no data set goes with it) and last.safetensors (the weights,
        with the model's name, image shape and classes). Your own networks are saved as
        weights: pass the modules back to `vaelab.load`. Returns the folder."""
        folder = Path(folder)
        if any((folder / name).exists() for name in (run_files.CHECKPOINT, run_files.BEST)):
            raise RunError(f"{folder} holds a training run, whose checkpoint would be opened before these weights: "
                           f"save the model into a folder of its own")
        run_files.write_config(folder, to_dict(RunConfig(data=DataConfig(name="none"), model=self.config)))
        run_files.save_weights(self.weights(), folder / run_files.LAST, model=self.config.name,
                               data_shape=list(self.data_shape), num_classes=self.num_classes)
        return folder

    def weights(self) -> dict[str, Tensor]:
        """The tensors a folder keeps of this model (its state dict)."""
        return self.state_dict()


# Priors: distributions over what a model's encoder produces.


class LatentPrior(nn.Module, ABC):
    """p(z) over latent vectors z [..., D]; a module, so that it moves with its model."""

    @abstractmethod
    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) in nats, summed over the last dimension: [..., D] -> [...]."""

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws z ~ p(z), [n, D]."""


class CodePrior(nn.Module, ABC):
    """p(codes | labels) over grids of integer codes [B, h, w] in [0, num_codes); a module,
    so that it moves with the model it is attached to.

    num_codes: the size of the code alphabet; num_classes: the classes it is conditioned
    on, or None for an unconditional prior; config: the PixelCNNConfig it was built from
    (what a folder records to build it again).
    """

    num_codes: int
    num_classes: int | None
    config: object

    @abstractmethod
    def log_prob(self, codes: Tensor, labels: Tensor | None = None) -> Tensor:
        """log p(codes | labels) in nats: int64 [B, h, w] -> [B]."""

    @abstractmethod
    def sample(
        self, n: int, shape: tuple[int, int], labels: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """n grids of `shape` (h, w) drawn from the prior: int64 [n, h, w]."""


# Capabilities: declared by inheriting them, checked with `require`.


class LatentVectorModel(ABC):
    """Each image is coded as one vector: encode(x, y) -> z [B, latent_dim], and decode(z, y)
    turns any such vector into an image. `latent_dim` (D) is an attribute or property."""

    requirement = "one latent vector per image"
    latent_dim: int


class LogWeights(NamedTuple):
    """The pieces of an importance weight, each [B, S] in nats, for S posterior samples
    z_s ~ q(z|x) of each of B examples: log w = log p(x|z) + log p(z) - log q(z|x)."""

    log_px_z: Tensor
    log_pz: Tensor
    log_qz: Tensor

    def total(self) -> Tensor:
        """log w [B, S]; E_q[log w] is the ELBO, logsumexp_s(log w) - log S the IWAE bound L_S."""
        return self.log_px_z + self.log_pz - self.log_qz


class LatentVariableModel(ABC):
    """p(x, z) = p(x|z) p(z) with an approximate posterior q(z|x) that draws z from standard
    normal noise eps [noise_dim] (the reparameterisation z = g(x, eps)): what the IS-NLL,
    the IWAE bound and the ELBO need, whatever the latent's structure (one vector, a
    hierarchy). eps is an argument so that an evaluation can draw it from a seeded
    generator, image by image, and get the same numbers whatever its batch size."""

    requirement = "a posterior q(z|x) to sample and a joint p(x, z) (the VAE family)"
    noise_dim: int

    @abstractmethod
    def log_weights(self, x: Tensor, y: Tensor | None, eps: Tensor) -> LogWeights:
        """x [B, C, H, W], eps [B, S, noise_dim] ~ N(0, I) -> the LogWeights of the S samples
        z_s = g(x, eps[:, s]), each [B, S]."""


class GaussianLatentModel(LatentVectorModel, LatentVariableModel):
    """A latent-variable model with a diagonal Gaussian posterior:

        q(z|x) = N(mu(x), diag exp(logvar(x)))           posterior(x, y) -> (mu, logvar)
        p(x|z) = likelihood with parameters decoder_output(z, y)
        p(z)   = self.prior, a LatentPrior (a registered submodule, so it moves with the model)

    `likelihood` has nll(out, x) -> -log p(x|z) per example [B] (nats) and mean(out).
    """

    requirement = "a Gaussian posterior q(z|x), a likelihood p(x|z) and a prior p(z) (the VAE family)"
    likelihood: nn.Module
    prior: LatentPrior

    @abstractmethod
    def posterior(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x [B, C, H, W] -> (mu, logvar), each [B, latent_dim]."""

    @abstractmethod
    def decoder_output(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z [B, latent_dim] -> the likelihood's parameters [B, C, H, W]."""

    @property
    def noise_dim(self) -> int:
        return self.latent_dim

    def log_weights(self, x: Tensor, y: Tensor | None, eps: Tensor) -> LogWeights:
        """z_s = mu + sigma * eps_s; log p(z) is the prior's own (N(0, I), a VampPrior, ...)."""
        mu, logvar = self.posterior(x, y)  # [B, D] each
        b, s, _ = eps.shape
        z = mu[:, None] + torch.exp(0.5 * logvar)[:, None] * eps  # [B, S, D]
        flat_y = None if y is None else y.repeat_interleave(s)
        out = self.decoder_output(z.flatten(0, 1), flat_y)  # image-major: rows i*S .. i*S+S-1 are image i's
        log_px_z = -self.likelihood.nll(out, x.repeat_interleave(s, dim=0)).view(b, s)
        return LogWeights(log_px_z, self.prior.log_prob(z), log_normal(z, mu[:, None], logvar[:, None]))


class CodeGridModel(ABC):
    """Each image is coded as a grid of integer codes in [0, num_codes) of shape `grid`
    (h, w), and images are generated through a CodePrior over such grids, trained after
    the model and attached to it (`prior`, a registered submodule; None until attached)."""

    requirement = "a grid of discrete codes per image (a VQ-VAE)"
    grid: tuple[int, int]  # the (finest) grid of code positions
    code_shape: tuple[int, ...]  # one image's codes: (h, w); (S, h, w) stacked; (L,) for two levels joined
    num_codes: int
    codes_per_position: int  # 1, or S stacked codes per position (codes [B, S, h, w])
    prior: CodePrior | None

    @abstractmethod
    def encode_codes(self, x: Tensor) -> Tensor:
        """x [B, C, H, W] -> codes int64 [B, h, w]."""

    @abstractmethod
    def decode_codes(self, codes: Tensor) -> Tensor:
        """codes int64 [B, h, w] -> images [B, C, H, W] in [0, 1]."""

    @abstractmethod
    def attach_prior(self, prior: CodePrior | None) -> None:
        """Make `prior` the model's prior over code grids (None detaches it)."""

    @abstractmethod
    def make_prior(self, config) -> CodePrior:
        """A fresh prior that fits this model's codes, from a PixelCNNConfig (trained by
        `vaelab prior train`, rebuilt the same way when a run is loaded)."""

    @abstractmethod
    def count_codes(self, codes: Tensor) -> Tensor:
        """How often each codeword was used in `codes` (as encode_codes returns them): int64
        [number of codewords], the counts usage and perplexity are read from."""

    def code_tables(self) -> list[tuple[str, tuple[int, int]]]:
        """How one image's codes, flattened in `code_shape`'s order, lay out as 2-D grids for a
        person to look at: (name, (h, w)) per grid, in that order. An (h, w) grid is one table,
        an (S, h, w) stack S tables, one per stage; joined levels say their own."""
        if len(self.code_shape) == 3:
            return [(f"stage {s + 1}", tuple(self.code_shape[1:])) for s in range(self.code_shape[0])]
        return [("codes", tuple(self.code_shape))]


class TrainingSetSized(ABC):
    """A model whose objective needs the size N of its training set (beta-TCVAE's
    minibatch-weighted estimate of q(z)): the run calls `set_training_set_size(N)` before
    training, and the model keeps N in its weights (a buffer), so a loaded run has it."""

    requirement = "an objective that depends on the training set's size"

    @abstractmethod
    def set_training_set_size(self, n: int) -> None:
        """Record N, the number of training examples."""


class HasCritic(ABC):
    """A model with a second network, a critic (FactorVAE's discriminator, a GAN's), trained
    against the model in the same loop and by the same backward pass: the model's loss
    adds the critic's own loss, computed on detached inputs, and reads the critic through
    detached weights where it is the model's opponent, so that one backward gives each
    its own gradient. The trainer only gives the critic its own optimizer settings."""

    requirement = "a critic network trained against the model"
    critic_lr: float
    critic_betas: tuple[float, float]

    @abstractmethod
    def critic_parameters(self) -> list[nn.Parameter]:
        """The critic's parameters (a separate parameter group: its own lr and betas, no weight decay)."""


class GroupedOutputs(ABC):
    """Observed variables in groups, each generated by its own network from the shared latent
    (the oi-VAE): `latent_group_norms()` -> [latent_dim, groups], how strongly each latent
    dimension reaches each group (the heatmap of `vaelab plot`)."""

    requirement = "groups of observed variables with a generator each (an oi-VAE)"
    num_groups: int
    group_grid: tuple[int, int] | None  # (rows, columns) when the groups tile the image (patches), else None

    @abstractmethod
    def latent_group_norms(self) -> Tensor:
        """[K, G] non-negative weights, detached."""


class Proximal(ABC):
    """A model with a non-smooth penalty optimised by a proximal step: the trainer calls
    `proximal_step(lr)` after every optimizer step, with the step's learning rate."""

    requirement = "a proximal step after each update"

    @abstractmethod
    def proximal_step(self, lr: float) -> None:
        """Apply the penalty's proximal operator at step size lr, in place."""


def require(model, capability: type, what: str) -> None:
    """Raise CapabilityError unless `model` declares `capability` (see the classes above).

    what: the thing that needs it, for the message ("the IS-NLL", "a traversal").
    """
    if not isinstance(model, capability):
        raise CapabilityError(f"{what} needs a model with {capability.requirement}; model {model_name(model)!r} is not one")


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """(the model's own parameters, those of a code prior trained apart from it and attached):
    a VQ-VAE's PixelCNN is counted apart, so that the model's own size stays the size it
    trained with."""
    total = sum(p.numel() for p in model.parameters())
    attached = isinstance(model, CodeGridModel) and model.prior is not None
    in_prior = sum(p.numel() for p in model.prior.parameters()) if attached else 0
    return total - in_prior, in_prior


def model_name(model) -> str:
    """A model's registry name ('vae', ...), or its class name for a module outside the family."""
    return model.name if isinstance(model, GenerativeModel) else type(model).__name__


def class_labels(labels, n: int, num_classes: int, device: torch.device | str | None = None) -> Tensor:
    """`labels` as int64 [n] on `device`; ConfigError unless they are n class indices in [0, num_classes)."""
    labels = torch.as_tensor(labels, dtype=torch.long).to(device)
    if labels.shape != (n,):
        raise ConfigError(f"expected {n} class labels, got a tensor of shape {tuple(labels.shape)}")
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise ConfigError(f"class labels out of range: the model has classes 0..{num_classes - 1}")
    return labels
