"""What a code-grid model (a VQ-VAE) does with its codebook on a set of images, and how
well its prior predicts the codes."""

from __future__ import annotations

import torch
from torch import Tensor

from vaelab.data import ImageDataset
from vaelab.evaluation.batching import image_batches
from vaelab.evaluation.likelihood import bits_per_dim
from vaelab.models.base import CodeGridModel, require
from vaelab.models.quantizers import usage_stats


@torch.no_grad()  # not inference_mode: the grids train a prior, and inference tensors cannot be saved for backward
def code_grids(model, images: Tensor, batch_size: int = 500) -> Tensor:
    """The code grid of each image: images [N, C, H, W] (uint8 0..255, or float in [0, 1])
    -> int64 [N, h, w] on the CPU. Eval mode for the call, so the codebook does not move."""
    require(model, CodeGridModel, "code grids")
    was_training = model.training
    model.eval()
    codes = [model.encode_codes(x).cpu() for x in image_batches(images, batch_size, model.device)]
    model.train(was_training)
    return torch.cat(codes) if codes else torch.zeros(0, *model.code_shape, dtype=torch.long)


@torch.inference_mode()
def codebook_scores(model, data: ImageDataset, batch_size: int = 500) -> dict:
    """Codebook use on `data`, and the prior's fit to its codes when a prior is attached:

        usage, perplexity   of the codes of every position of every image (see usage_stats)
        prior_nll           -log p(codes) under the model's prior, nats per image (mean)
        prior_bits_per_code the same in bits per code position: nats / (h * w * ln 2)

    A class-conditional prior is scored with the images' labels.
    """
    codes = code_grids(model, data.images, batch_size)  # (N, *code_shape)
    counts = model.count_codes(codes.to(model.device)).cpu()
    out = {**usage_stats(counts), "num_codes": len(counts), "grid": list(model.grid)}
    if model.prior is None:
        return out
    labels = data.labels if model.conditional else None
    log_p = []
    for start in range(0, len(codes), batch_size):
        y = None if labels is None else labels[start:start + batch_size].to(model.device)
        log_p.append(model.prior.log_prob(codes[start:start + batch_size].to(model.device), y).cpu())
    nll = -torch.cat(log_p).mean().item()
    return out | {"prior_nll": nll, "prior_bits_per_code": bits_per_dim(nll, codes[0].numel())}
