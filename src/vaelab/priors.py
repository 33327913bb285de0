"""A learned prior over a VQ-VAE's code grids: fit a gated PixelCNN to the codes of the
training set, so the VQ-VAE can generate (`vaelab prior train RUN`).

    RUN/prior/   config.yaml, best/last.safetensors, trainer_state.pt, metrics.jsonl

Its loss is -log p(codes) in nats per image (a grid of h x w codes); bits per dimension
divide that by h * w * ln 2 (per code).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vaelab.config import TrainConfig, build, to_dict
from vaelab.data import batches, load_dataset
from vaelab.errors import RunError
from vaelab.models.pixelcnn import GatedPixelCNN, PixelCNNConfig
from vaelab.runs import PRIOR_DIR, load, read_yaml, run_config
from vaelab.training import checkpoint as ckpt
from vaelab.training.trainer import EpochBatches, TrainResult, fit, pick_device


@dataclass
class PriorConfig:
    pixelcnn: PixelCNNConfig = field(default_factory=PixelCNNConfig)
    conditional: bool = False  # condition on the dataset's labels (then `vaelab sample RUN --label k`)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20, batch_size=64, lr=1e-3))


@torch.no_grad()
def encode_dataset(model, data, batch_size: int = 500) -> torch.Tensor:
    """Code grids of every image: int64 [N, h, w] (the model in eval mode: no codebook updates)."""
    model.eval()
    return torch.cat([model.encode_codes(x.to(model.device)).cpu() for x, _ in batches(data, batch_size)])


def code_batches(codes: torch.Tensor, labels: torch.Tensor | None, batch_size: int) -> EpochBatches:
    def epoch(generator: torch.Generator, shuffle: bool):
        order = torch.randperm(len(codes), generator=generator) if shuffle else torch.arange(len(codes))
        for index in order.split(batch_size):
            yield codes[index], None if labels is None else labels[index]

    return epoch


def bits_per_dim(nats_per_grid: float, grid: tuple[int, int]) -> float:
    return nats_per_grid / (grid[0] * grid[1] * math.log(2))


def train_prior(run: str | Path, overrides: list[str] | tuple[str, ...] = (), resume: bool = False) -> TrainResult:
    """Fit the PixelCNN prior of a trained VQ-VAE run; its files go to RUN/prior/."""
    run = Path(run)
    cfg = run_config(run)
    if cfg.model.name != "vqvae":
        raise RunError(f"{run} holds a {cfg.model.name!r} model: a code prior is for VQ-VAE runs")
    folder = run / PRIOR_DIR
    saved = read_yaml(folder / ckpt.CONFIG) if resume else None
    pcfg: PriorConfig = build(PriorConfig(), saved, overrides)
    device = pick_device(pcfg.train.device)
    model = load(run, device=device)
    data = load_dataset(cfg.data)
    labels = lambda split: split.labels if pcfg.conditional else None  # noqa: E731
    if pcfg.conditional:
        if data.train.labels is None:
            raise RunError(f"prior.conditional=true but the dataset {cfg.data.name!r} has no labels")
        pcfg.pixelcnn.num_classes = data.train.num_classes
    torch.manual_seed(pcfg.train.seed)
    prior = GatedPixelCNN(cfg.model.num_codes, pcfg.pixelcnn).to(device)
    codes = encode_dataset(model, data.train)
    val = data.val if data.val is not None and len(data.val) else None
    return fit(
        prior,
        pcfg.train,
        folder,
        code_batches(codes, labels(data.train), pcfg.train.batch_size),
        steps_per_epoch=math.ceil(len(codes) / pcfg.train.batch_size),
        val_batches=None if val is None else code_batches(encode_dataset(model, val), labels(val), pcfg.train.eval_batch_size),
        config=to_dict(pcfg),
        meta={"model": "pixelcnn", "num_codes": cfg.model.num_codes, "grid": list(model.grid), "num_classes": pcfg.pixelcnn.num_classes},
        resume=resume,
    )
