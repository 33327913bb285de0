"""The training loop: a plain PyTorch loop over in-memory tensors.

No per-step framework: the data are a uint8 tensor batched by index, and the loop does
only forward, backward, step and a running sum of the loss terms (a device-side add;
the progress bar reads them back every `log_every` steps). Everything that happens once
an epoch (validation, metrics line, checkpoints) is outside the hot path.

`fit` drives any `Trainable` (an image model, the PixelCNN prior of a VQ-VAE alike);
what to train on and where the run folder's other files come from is the run layer's
business (vaelab.runs). Saving and resuming are the Checkpointer's (checkpoint.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from vaelab.config import TrainConfig
from vaelab.errors import CapabilityError
from vaelab.models.base import Trainable
from vaelab.nn.device import module_device
from vaelab.training import checkpoint as ckpt
from vaelab.training.epochs import EpochBatches
from vaelab.training.optim import build_optimizer

log = logging.getLogger("vaelab")


@dataclass
class TrainResult:
    model: torch.nn.Module
    run_dir: Path
    history: list[dict]  # one metrics record per epoch, as in metrics.jsonl


@torch.no_grad()
def average_terms(model: Trainable, epoch_batches: EpochBatches, seed: int = 0) -> dict[str, float]:
    """Loss terms averaged over every example of one pass (nats per example), in eval mode,
    plus the model's pass statistics. The data's randomness and the model's sampling use
    a fixed seed, so the numbers of two epochs are comparable."""
    was_training = model.training
    model.eval()
    device = module_device(model)
    model.reset_epoch_stats()
    sums: dict[str, torch.Tensor] = {}
    seen = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for x, y in epoch_batches(torch.Generator().manual_seed(seed), False):
            x, y = x.to(device), None if y is None else y.to(device)
            out = model(x, y)
            for k, v in {"loss": out.loss.detach(), **out.terms}.items():
                sums[k] = sums.get(k, 0) + v * len(x)
            seen += len(x)
    model.train(was_training)
    return {**{k: float(v) / seen for k, v in sums.items()}, **model.epoch_stats()}


def fit(
    model: Trainable,
    t: TrainConfig,
    run_dir: Path,
    train_batches: EpochBatches,
    steps_per_epoch: int,
    val_batches: EpochBatches | None,
    config: dict,
    meta: dict,
    resume: bool = False,
) -> TrainResult:
    """Train `model` (forward(x, y) -> LossOutput) and keep everything in `run_dir`.

    resume=True continues from the run folder's checkpoint (`t.epochs` is the total, so
    raising it extends a finished run). Checkpoints are written after the last epoch,
    every `t.checkpoint_seconds` in between, and on Ctrl-C, which saves the current state
    before re-raising KeyboardInterrupt: an interrupted run resumes where it stopped.
    `config` is written as config.yaml; `meta` goes into the weights' metadata.
    """
    if not isinstance(model, Trainable):
        raise CapabilityError(f"fit trains a vaelab Trainable (forward -> LossOutput), not a {type(model).__name__}")
    optimizer, schedule = build_optimizer(model, t, t.epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(t.seed)  # data order and dynamic binarization
    checkpoint = ckpt.Checkpointer(run_dir, model, optimizer, schedule, generator, meta, t.checkpoint_seconds)
    checkpoint.start(resume, config)
    state = checkpoint.state
    writer = _tensorboard(checkpoint.run_dir) if t.tensorboard else None
    model.train()
    try:
        while state["epoch"] < t.epochs:
            epoch = state["epoch"] + 1
            start = time.perf_counter()
            model.reset_epoch_stats()
            terms = _train_epoch(model, optimizer, schedule, train_batches, steps_per_epoch, t, generator, epoch, state)
            record = {"epoch": epoch, "step": state["step"], "lr": optimizer.param_groups[0]["lr"]}
            record.update({f"train/{k}": v for k, v in {**terms, **model.epoch_stats()}.items()})
            record["train/seconds"] = time.perf_counter() - start
            if val_batches is not None:
                record.update({f"val/{k}": v for k, v in average_terms(model, val_batches).items()})
            checkpoint.end_epoch(record, model.objective_is_final(), last=epoch == t.epochs)
            if writer:
                for k, v in record.items():
                    writer.add_scalar(k, v, state["step"])
            log.info("epoch %d/%d  %s", epoch, t.epochs, _summary(record))
    except KeyboardInterrupt:
        checkpoint.save()
        raise
    finally:
        if writer:
            writer.close()
    if not checkpoint.has_weights():
        checkpoint.save()  # a run with nothing to train (epochs=0) still gets loadable weights
    return TrainResult(model, checkpoint.run_dir, ckpt.read_jsonl(checkpoint.run_dir / ckpt.METRICS))


def _train_epoch(model, optimizer, schedule, train_batches, steps, t: TrainConfig, generator, epoch, state) -> dict[str, float]:
    device = module_device(model)
    names: list[str] = []
    sums = None  # running sum of [loss, *terms] weighted by batch size, one tensor: one add a step
    seen = 0
    bar = tqdm(
        total=steps,
        desc=f"epoch {epoch}/{t.epochs}",
        disable=None if t.progress else True,  # None: no bar when stderr is not a terminal
        leave=False,
        dynamic_ncols=True,
    )
    for i, (x, y) in enumerate(train_batches(generator, True)):
        x, y = x.to(device, non_blocking=True), None if y is None else y.to(device, non_blocking=True)
        out = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        if t.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
        optimizer.step()
        if schedule is not None:
            schedule.step()
        state["step"] += 1
        values = torch.stack([out.loss.detach(), *out.terms.values()])
        if sums is None:
            names, sums = ["loss", *out.terms], values * len(x)
        else:
            sums.add_(values, alpha=len(x))
        seen += len(x)
        if not bar.disable and (i + 1) % t.log_every == 0:
            bar.set_postfix({k: f"{v / seen:.2f}" for k, v in zip(names, sums.tolist())}, refresh=False)
        bar.update()
    bar.close()
    return {k: v / seen for k, v in zip(names, sums.tolist())}


def _summary(record: dict) -> str:
    keys = [k for k in record if k.startswith(("train/", "val/")) and not k.endswith("seconds")]
    return "  ".join(f"{k} {record[k]:.3f}" for k in keys) + f"  ({record['train/seconds']:.1f}s)"


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning("train.tensorboard=true but the tensorboard package is not installed; skipping it")
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))
