"""A learned prior over a code-grid model's codes: fit a gated PixelCNN to the code grids of
the training set, so that the model (a VQ-VAE) can generate (`vaelab prior train RUN`).

    RUN/prior/   config.yaml, checkpoint.safetensors, best/last.safetensors, metrics.jsonl

Its loss is -log p(codes) in nats per image (a grid of h x w codes); bits per code
divide that by h * w * ln 2 (evaluation.bits_per_dim with dims = h * w).
`vaelab.load(RUN)` attaches the trained prior to the model (runs/folder.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from vaelab.config import Section, TrainConfig, build, to_dict
from vaelab.data import ImageDataset, load_dataset
from vaelab.errors import RunError
from vaelab.evaluation import code_grids
from vaelab.models import CodeGridModel, model_class
from vaelab.models.priors import PixelCNNConfig
from vaelab.runs.folder import PRIOR_DIR, load, read_yaml, run_config
from vaelab.runs.resume import check_resume_changes
from vaelab.runs.train_run import check_resumable, held_by_main, training_device
from vaelab.training import TrainResult, fit, tensor_epochs
from vaelab import run_files


@dataclass
class PriorConfig(Section):
    pixelcnn: PixelCNNConfig = field(default_factory=PixelCNNConfig)
    conditional: bool = False  # condition on the dataset's labels (then `vaelab sample RUN --label k`)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20, batch_size=64, lr=1e-3))


def train_prior(run: str | Path, overrides: list[str] | tuple[str, ...] = (), resume: bool = False) -> TrainResult:
    """Fit the PixelCNN prior of a trained code-grid model's run; its files go to RUN/prior/."""
    run = Path(run)
    cfg = run_config(run)
    if not issubclass(model_class(cfg.model.name), CodeGridModel):
        raise RunError(f"{run} holds a {cfg.model.name!r} model: a code prior is for models with a grid of "
                       f"discrete codes per image (a VQ-VAE)")
    folder = run / PRIOR_DIR
    saved = read_yaml(folder / run_files.CONFIG) if resume else None
    pcfg: PriorConfig = build(PriorConfig(), saved, overrides)
    if resume:
        check_resume_changes(to_dict(build(PriorConfig(), saved)), to_dict(pcfg))
    device = training_device(pcfg.train.device)
    # The run's own lock first, as every writer of the run folder takes it: `train --overwrite`
    # cannot delete prior/ under this trainer. Then prior/'s, for its files' temporaries.
    with held_by_main(run, ()), held_by_main(folder, run_files.RUN_FILES):
        if resume:
            check_resumable(folder)
        return _fit_prior(run, cfg, pcfg, folder, resume, device)


def _fit_prior(run: Path, cfg, pcfg: PriorConfig, folder: Path, resume: bool, device: torch.device) -> TrainResult:
    model = load(run, device=device, prior=False)
    data = load_dataset(cfg.data)
    if pcfg.conditional:
        if data.train.labels is None:
            raise RunError(f"prior.conditional=true but the dataset {cfg.data.name!r} has no labels")
        pcfg.pixelcnn.num_classes = data.train.num_classes
    torch.manual_seed(pcfg.train.seed)
    prior = model.make_prior(pcfg.pixelcnn).to(device)

    def codes_of(split: ImageDataset, batch_size: int):
        labels = split.labels if pcfg.conditional else None
        return tensor_epochs(code_grids(model, split.images), labels, batch_size)

    return fit(
        prior,
        pcfg.train,
        folder,
        codes_of(data.train, pcfg.train.batch_size),
        val_batches=None if data.val is None else codes_of(data.val, pcfg.train.eval_batch_size),
        config=to_dict(pcfg),
        meta={"model": "pixelcnn", "num_codes": model.num_codes, "grid": list(model.grid),
              "code_shape": list(model.code_shape), "num_classes": pcfg.pixelcnn.num_classes},
        resume=resume,
    )
