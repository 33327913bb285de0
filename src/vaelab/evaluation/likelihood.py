"""Test log-likelihood: the importance-weighted bound (Burda et al., 2016) and the ELBO.

For a model with a Gaussian posterior q(z|x), a prior p(z) and a decoder p(x|z) (a
GaussianLatentModel: the prior is the model's own, N(0, I) for the VAEs of today),

    log p(x) >= L_k(x) = log (1/k) sum_{i=1..k} p(x|z_i) p(z_i) / q(z_i|x),   z_i ~ q(z|x),

L_1 is the ELBO (in expectation), E[L_k] rises with k, and L_k -> log p(x) as k -> inf
(for a posterior whose tails cover the true one's). Every number here is in nats per
image (summed over pixels); `bits_per_dim` converts.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from tqdm.auto import tqdm

from vaelab.data import ImageDataset, batches
from vaelab.errors import ConfigError
from vaelab.evaluation.batching import labelled_batches
from vaelab.models.base import GaussianLatentModel, require
from vaelab.models.gaussian import log_normal, reparameterize
from vaelab.models.priors.standard_normal import require_standard_normal_prior
from vaelab.nn.device import module_device


@torch.inference_mode()
def importance_weighted_nll(
    model,
    x: Tensor,
    y: Tensor | None = None,
    k: int = 1000,
    batch_size: int = 32,
    chunk_size: int = 64,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> Tensor:
    """-L_k(x) per image, float [N] (nats), on the CPU: an estimate of -log p(x) from above.

    x: images [N, C, H, W], uint8 (0..255, divided by 255 here) or float in [0, 1];
       y: their labels int64 [N] (conditional models only).
    log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x), and
    L_k = logsumexp_i(log w_i) - log k, with p(z) the model's prior (`model.prior.log_prob`).

    Batching: the encoder runs once per image (`batch_size` images at a time); the k
    samples of a batch are decoded `chunk_size` at a time (batch_size * chunk_size
    decoder inputs at once bound the memory), each chunk reduced to its logsumexp and
    the chunks combined by one more logsumexp. The noise eps ~ N(0, I) [k, D] is drawn
    image by image from `generator` (CPU; the global RNG when None), so the result does
    not depend on batch_size or chunk_size, only on the generator and the image order.

    The model is put in eval mode for the call. Dynamic binarization is up to the
    caller: pass the (e.g. statically binarized) images the likelihood should score.
    With a Bernoulli likelihood on grey (non-binary) pixels, p(x|z) is not a normalised
    distribution over [0, 1] pixels, so the result is a bound-like surrogate to compare
    models trained the same way, not a true negative log-likelihood.
    """
    require(model, GaussianLatentModel, "the IS-NLL")
    if k < 1 or chunk_size < 1:
        raise ConfigError(f"importance sampling needs k >= 1 and chunk_size >= 1, got k={k}, chunk_size={chunk_size}.")
    if y is not None and len(y) != len(x):
        raise ConfigError(f"{len(y)} labels for {len(x)} images.")
    was_training = model.training
    model.eval()
    device = module_device(model)
    results = []
    steps = tqdm(labelled_batches(x, y, batch_size, device), total=math.ceil(len(x) / batch_size),
                 desc=f"IS-NLL (k={k})", disable=None if progress else True, leave=False)
    for xb, yb in steps:
        mu, logvar = model.posterior(xb, yb)  # [B, D] each
        eps = torch.stack([torch.randn(k, mu.shape[1], generator=generator, dtype=mu.dtype) for _ in range(len(xb))])
        chunks = [_log_weights_lse(model, xb, yb, mu, logvar, e.to(device)) for e in eps.split(chunk_size, dim=1)]
        log_px = torch.logsumexp(torch.stack(chunks, dim=1), dim=1) - math.log(k)
        results.append(-log_px.cpu())
    model.train(was_training)
    return torch.cat(results) if results else torch.zeros(0)


def _log_weights_lse(model, x: Tensor, y: Tensor | None, mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    """logsumexp over the chunk's S samples of log w, [B]; eps [B, S, D]."""
    b, s, _ = eps.shape
    z = mu[:, None] + torch.exp(0.5 * logvar)[:, None] * eps  # [B, S, D]
    flat_z = z.flatten(0, 1)  # image-major: rows i*S .. i*S+S-1 belong to image i
    flat_y = None if y is None else y.repeat_interleave(s)
    log_px_z = -model.likelihood.nll(model.decoder_output(flat_z, flat_y), x.repeat_interleave(s, dim=0)).view(b, s)
    log_pz = model.prior.log_prob(z)
    log_qz = log_normal(z, mu[:, None], logvar[:, None])
    return torch.logsumexp(log_px_z + log_pz - log_qz, dim=1)


def bits_per_dim(nats_per_image: float | Tensor, dims: int, levels: int | None = None) -> float:
    """nats / (dims * ln 2): a per-image NLL (a Tensor is averaged first) in bits per data dimension.

    dims = C * H * W. `levels` (e.g. 256) converts the NLL of a density on [0, 1]^dims
    (a Gaussian likelihood on x / 255) into that of a distribution over `levels` grey
    levels per pixel, by adding dims * log(levels) nats (the change of scale from [0, 1]
    to [0, levels]; exact for uniformly dequantised data), as bits/dim are usually
    reported. Leave it None for a Bernoulli likelihood on binary data, already discrete.
    """
    nats = float(torch.as_tensor(nats_per_image, dtype=torch.float64).mean())
    if levels is not None:
        nats += dims * math.log(levels)
    return nats / (dims * math.log(2))


@torch.inference_mode()
def elbo_terms(
    model, data: ImageDataset, batch_size: int = 500, binarize: str = "none", seed: int = 0
) -> dict[str, float]:
    """Means over every image of `data`, nats per image, in eval mode:

        recon = E_q[-log p(x|z)]  (one z ~ q(z|x) per image),
        kl    = KL(q(z|x) || N(0, I))  (closed form),
        nelbo = recon + kl  (-ELBO, whatever beta or schedule the model trained with).

    The posterior sample and dynamic binarization (`binarize` as in data.batches) use
    their own generators seeded with `seed`, so two calls agree exactly. The KL is the
    closed form against N(0, I): a model with another prior is refused.
    """
    require_standard_normal_prior(model, "the ELBO terms")
    was_training = model.training
    model.eval()
    device = module_device(model)
    generator = torch.Generator().manual_seed(seed)
    recon = kl = 0.0
    for x, y in batches(data, batch_size, generator=generator, binarize=binarize):
        x, y = x.to(device), None if y is None else y.to(device)
        mu, logvar = model.posterior(x, y)
        z = reparameterize(mu.cpu(), logvar.cpu(), generator).to(device)  # the seeded generator lives on the CPU
        recon += float(model.likelihood.nll(model.decoder_output(z, y), x).sum())
        kl += float(model.prior.kl(mu, logvar).sum())
    model.train(was_training)
    n = max(len(data), 1)
    return {"recon": recon / n, "kl": kl / n, "nelbo": (recon + kl) / n}
