"""What the latent space holds: per-dimension KL, active units, reconstruction error."""

from __future__ import annotations

import torch
from torch import Tensor

from vaelab.data import ImageDataset
from vaelab.evaluation.batching import labelled_batches
from vaelab.models.base import LatentVectorModel, require
from vaelab.models.priors.standard_normal import require_standard_normal_prior
from vaelab.models.traversal import batch_kl_per_dimension
from vaelab.nn.device import module_device


@torch.no_grad()  # not inference_mode: the means train the linear probe (inference tensors cannot be saved for backward)
def posterior_means(model, images: Tensor, labels: Tensor | None = None, batch_size: int = 500) -> Tensor:
    """model.encode per image (the posterior mean E_q[z], or an AE's code), float [N, D] on the CPU.

    images: uint8 [N, C, H, W] (0..255) or float in [0, 1]; labels int64 [N] for
    conditional models. Eval mode for the call.
    """
    require(model, LatentVectorModel, "posterior means")
    was_training = model.training
    model.eval()
    codes = [model.encode(x, y).cpu() for x, y in labelled_batches(images, labels, batch_size, module_device(model))]
    model.train(was_training)
    return torch.cat(codes) if codes else torch.zeros(0, model.latent_dim)


@torch.inference_mode()
def kl_per_dimension(model, data: ImageDataset, batch_size: int = 500) -> Tensor:
    """Mean over `data` of KL(q(z_j|x) || N(0, 1)) for each latent dimension j, float [D] (nats).

    Sums to the dataset's mean KL term. Dimensions with ~0 KL carry no information
    about x (collapsed to the prior). Needs a Gaussian posterior and the N(0, I) prior
    (a plain AE: use active_units on its codes instead).
    """
    require_standard_normal_prior(model, "the KL per latent dimension")
    was_training = model.training
    model.eval()
    total = torch.zeros(model.latent_dim, dtype=torch.float64)
    for x, y in labelled_batches(data.images, data.labels, batch_size, module_device(model)):
        total += batch_kl_per_dimension(model, x, y).double().cpu() * len(x)  # batch mean -> batch sum
    model.train(was_training)
    return (total / max(len(data), 1)).float()


def active_units(means: Tensor, threshold: float = 0.01) -> tuple[int, Tensor]:
    """(number of active units, per-dimension variances [D]) from posterior means [N, D].

    Unit u is active when A_u = Var_x(E_q[z_u | x]) > threshold (Burda et al., 2016): its
    mean moves with the input. An inactive unit's posterior is the same for every x, so
    it carries nothing about x. Variances over the N examples (divided by N).
    """
    variances = means.double().var(dim=0, correction=0)
    return int((variances > threshold).sum()), variances.float()


@torch.inference_mode()
def reconstruction_mse(model, data: ImageDataset, batch_size: int = 500) -> float:
    """Mean squared error per pixel between x and model.reconstruct(x), pixels on the [0, 1] scale.

    mean over images and pixels of (x - decode(encode(x)))^2: the deterministic
    reconstruction from the posterior mean. Multiply by C*H*W for a per-image sum.
    """
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for x, y in labelled_batches(data.images, data.labels, batch_size, module_device(model)):
        total += float((model.reconstruct(x, y) - x).double().pow(2).sum())
        count += x.numel()
    model.train(was_training)
    return total / max(count, 1)
