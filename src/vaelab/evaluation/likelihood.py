"""Test log-likelihood: the importance-weighted bound (Burda et al., 2016) and the ELBO.

For a latent-variable model with a posterior q(z|x) to sample, a prior p(z) and a
decoder p(x|z) (a LatentVariableModel: a VAE with its own prior, N(0, I) or a VampPrior,
or a hierarchical VAE with all its layers),

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
from vaelab.models.base import LatentVariableModel, require
from vaelab.models.gaussian import reparameterize
from vaelab.models.priors.standard_normal import has_standard_normal_prior
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
    log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) (`model.log_weights`), and
    L_k = logsumexp_i(log w_i) - log k.

    Batching: `batch_size` images at a time, their k samples `chunk_size` at a time
    (batch_size * chunk_size decoder inputs at once bound the memory, whatever k), each
    chunk reduced to its logsumexp and the chunks combined by one more logsumexp. The
    noise eps ~ N(0, I) [k, noise_dim] is drawn image by image from `generator` (CPU;
    the global RNG when None), so the result does not depend on batch_size or
    chunk_size, only on the generator and the image order.

    The model is put in eval mode for the call. Dynamic binarization is up to the
    caller: pass the (e.g. statically binarized) images the likelihood should score.
    With a Bernoulli likelihood on grey (non-binary) pixels, p(x|z) is not a normalised
    distribution over [0, 1] pixels, so the result is a bound-like surrogate to compare
    models trained the same way, not a true negative log-likelihood.
    """
    require(model, LatentVariableModel, "the IS-NLL")
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
        eps = torch.stack([torch.randn(k, model.noise_dim, generator=generator, dtype=xb.dtype) for _ in range(len(xb))])
        chunks = [torch.logsumexp(model.log_weights(xb, yb, e.to(device)).total(), dim=1)
                  for e in eps.split(chunk_size, dim=1)]  # each [B]
        log_px = torch.logsumexp(torch.stack(chunks, dim=1), dim=1) - math.log(k)
        results.append(-log_px.cpu())
    model.train(was_training)
    return torch.cat(results) if results else torch.zeros(0)


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
        kl    = KL(q(z|x) || p(z)),
        nelbo = recon + kl  (-ELBO, whatever beta or schedule the model trained with),
        kl_estimate = "closed form" (the N(0, I) prior) or "monte carlo": log q(z|x) - log p(z)
                      at the same one sample (a VampPrior, a hierarchy), unbiased but noisy.

    The posterior sample and dynamic binarization (`binarize` as in data.batches) use
    their own generators seeded with `seed`, so two calls agree exactly.
    """
    require(model, LatentVariableModel, "the ELBO terms")
    closed_form = has_standard_normal_prior(model)
    was_training = model.training
    model.eval()
    device = module_device(model)
    generator = torch.Generator().manual_seed(seed)
    recon = kl = 0.0
    for x, y in batches(data, batch_size, generator=generator, binarize=binarize):
        x, y = x.to(device), None if y is None else y.to(device)
        if closed_form:
            mu, logvar = model.posterior(x, y)
            z = reparameterize(mu.cpu(), logvar.cpu(), generator).to(device)  # the seeded generator lives on the CPU
            recon += float(model.likelihood.nll(model.decoder_output(z, y), x).sum())
            kl += float(model.prior.kl(mu, logvar).sum())
        else:
            w = model.log_weights(x, y, torch.randn(len(x), 1, model.noise_dim, generator=generator).to(device))
            recon -= float(w.log_px_z.sum())
            kl += float((w.log_qz - w.log_pz).sum())
    model.train(was_training)
    n = max(len(data), 1)
    return {"recon": recon / n, "kl": kl / n, "nelbo": (recon + kl) / n,
            "kl_estimate": "closed form" if closed_form else "monte carlo"}
