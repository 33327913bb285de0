"""The Checkpointer: it saves and restores a training run as one atomic unit. The files'
names and formats are vaelab/run_files.py's; this module fills them:

    RUN/config.yaml              the full config the run uses (rewritten when it resumes)
    RUN/checkpoint.safetensors   everything a resume needs, in one file that replaces the
                                 previous one by one rename, so that weights, optimizer and
                                 random state always belong to the same step:
                                   model/*      the weights at the checkpoint
                                   best/*       the weights of the best epoch so far (absent
                                                while they are model/* or no epoch has ended)
                                   optimizer/*  the optimizer's tensors (its structure: metadata)
                                   rng/*        torch's RNG (and CUDA's), the data generator now
                                                and when the epoch began (to redraw its order)
                                   epoch/sums   the running sums of the epoch's loss terms
                                   buffers/*    the model's buffers outside its weights (such as
                                                a codebook's usage counts over the epoch)
                                 metadata: model name, data shape, and the Progress (epoch,
                                 step, batch within the epoch, best score) as JSON; the
                                 SHA-256 of every tensor (run_files.sealed), checked on reading
    RUN/.checkpoint.safetensors.previous.tmp
                                 while training: the checkpoint before the newest (a hard
                                 link, no copy), kept back in place of the newest when the
                                 first step after the newest shows its weights diverged
    RUN/last.safetensors         the weights alone, exported from the checkpoint whenever
    RUN/best.safetensors           training stops (finished, interrupted or diverged): to share
    RUN/metrics.jsonl            one JSON line per epoch
    RUN/.lock                    held by the one process training into the folder (folder_lock.py)
    RUN/*.png                    pictures

Nothing is pickled: safetensors, YAML and JSON are data, and reading them runs no code.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
from safetensors.torch import save_file

from vaelab.crashpoints import crash_point
from vaelab.errors import ConfigError, RunError
from vaelab.files import atomic_write
from vaelab.run_files import (BEST, BEST_WEIGHTS, BUFFERS, CHECKPOINT, CONFIG, FORMAT, LAST, LEGACY_STATE, METRICS,
                              MODEL, append_jsonl, put_weights, read_jsonl, read_metadata, read_tensors,
                              refuse_nonfinite, rewrite_jsonl, save_weights, sealed, write_config)
from vaelab.nn import distributed
from vaelab.nn.device import module_device
from vaelab.training.state_tree import flatten, unflatten

log = logging.getLogger("vaelab")

# the checkpoint before the newest, during a fit (a stale one is removed at the next start, as a temporary)
PREVIOUS = f".{CHECKPOINT}.previous.tmp"


@dataclass
class Progress:
    """Where a run stands: the plain part of every checkpoint. The training loop updates it."""

    epoch: int = 0  # epochs completed
    step: int = 0  # batches trained on (a skipped non-finite batch counts too)
    batch: int = 0  # batches of the current epoch done; 0 between epochs
    best: float = math.inf  # best score so far (see is_new_best)
    best_epoch: int = 0  # 0: no epoch has ended yet
    seen: int = 0  # examples summed into the current epoch's terms
    skipped: int = 0  # non-finite batches skipped in the current epoch (train.nonfinite=skip)
    terms: list = field(default_factory=list)  # names of the summed loss terms, "loss" first
    sums: torch.Tensor | None = None  # [1 + terms] the epoch's terms summed over examples (device)
    epoch_start: torch.Tensor | None = None  # the data generator's state when the epoch began

    TENSORS = ("sums", "epoch_start")  # stored as tensors; the rest is plain JSON

    def plain(self) -> dict:
        return {k: v for k, v in vars(self).items() if k not in self.TENSORS}

    @classmethod
    def from_plain(cls, plain: dict) -> "Progress":
        kinds = {"best": (int, float), "terms": list}
        names = [f.name for f in fields(cls) if f.name not in cls.TENSORS]
        if not isinstance(plain, dict) or any(not isinstance(plain.get(n), kinds.get(n, int)) for n in names):
            raise RunError(f"the checkpoint's progress record is malformed: {str(plain)[:80]}")
        return cls(**{n: plain[n] for n in names})

    def start_epoch(self, data_generator: torch.Generator) -> None:
        """Before the epoch's first batch: remember where its data order comes from."""
        self.batch, self.seen, self.skipped, self.sums = 0, 0, 0, None
        self.epoch_start = data_generator.get_state()

    def finish_epoch(self) -> None:
        """After the epoch's last batch and its record."""
        self.epoch, self.batch, self.seen, self.skipped, self.sums, self.epoch_start = self.epoch + 1, 0, 0, 0, None, None


def is_new_best(progress: Progress, record: dict, objective_is_final: bool) -> bool:
    """Whether this epoch's weights become the best; updates progress.best and .best_epoch.

    Best = lowest held-out loss (training loss when nothing is held out); a non-finite
    score never is. While the objective is not final (a KL warm-up still raises beta),
    losses of different epochs measure different things, so the latest epoch is taken.
    """
    score = record["val/loss"] if "val/loss" in record else record["train/loss"]
    if not math.isfinite(score) or (objective_is_final and score >= progress.best):
        return False
    progress.best, progress.best_epoch = (score if objective_is_final else math.inf), record["epoch"]
    return True


class Checkpointer:
    """Saves and restores one training run in `run_dir`: weights (current and best),
    optimizer, data generator, RNG states and the Progress, all in checkpoint.safetensors.

    A checkpoint is due every `every_seconds` or every `every_steps` steps (0: by time
    only), whichever comes first; the loop also saves one before the first step, after
    the last epoch, and on Ctrl-C. The caller holds the folder's lock (folder_lock.py).
    """

    def __init__(self, run_dir: Path, model: torch.nn.Module, optimizer, generator: torch.Generator,
                 meta: dict, every_seconds: float, every_steps: int = 0, noise: torch.Generator | None = None,
                 scaler: torch.amp.GradScaler | None = None):
        self.run_dir, self.model, self.optimizer, self.generator = Path(run_dir), model, optimizer, generator
        self.noise = noise  # the data's own generator on an accelerator (dynamic binarization there), or None
        self.scaler = scaler  # fp16's gradient scaler, or None
        self.meta, self.every_seconds, self.every_steps = meta, every_seconds, every_steps
        self.progress = Progress()
        self.best_weights: dict | None = None  # a copy of the best epoch's weights, once there is one
        self.saved_step, self.saved_time = 0, time.monotonic()
        self.committed = False  # whether a checkpoint of this run is in the folder (saved, or resumed from)
        self.previous_step: int | None = None  # the step of the checkpoint kept at PREVIOUS, or None
        self.own_rng_restored = False  # whether a resume gave this process its own saved random state

    def start(self, resume: bool, config: dict, epochs: int) -> None:
        """Restore the run from its checkpoint (resume), or begin an empty one; write config.yaml.

        Resuming a folder whose run never reached its first checkpoint starts it afresh.
        A fresh start removes what an earlier run left in the folder first.
        """
        resume = resume and self._has_checkpoint()
        if resume:
            self._restore()
            started = self.progress.epoch + (self.progress.batch > 0)
            if epochs < started:
                raise ConfigError(f"train.epochs={epochs}, but the run is already in (or past) epoch {started}")
        elif distributed.is_main():
            for name in (CHECKPOINT, LAST, BEST, LEGACY_STATE, METRICS, CONFIG):
                (self.run_dir / name).unlink(missing_ok=True)
        if distributed.is_main():  # data-parallel: the other processes read, never write
            write_config(self.run_dir, config)
        crash_point("config:written")
        if not resume:
            self.save()  # before the first step: a run killed at any later point can resume

    def _has_checkpoint(self) -> bool:
        if (self.run_dir / CHECKPOINT).is_file():
            return True
        if (self.run_dir / LEGACY_STATE).exists():
            raise RunError(f"{self.run_dir} was trained by vaelab 0.1, whose trainer state ({LEGACY_STATE}) is a pickle "
                           f"that vaelab no longer opens: it cannot be resumed (its weights still load)")
        log.info("%s has no checkpoint yet: starting the run from the beginning", self.run_dir)
        return False

    def due(self) -> bool:
        """Whether the next checkpoint is due (by steps or by time since the last one)."""
        if self.every_steps and self.progress.step - self.saved_step >= self.every_steps:
            return True
        return time.monotonic() - self.saved_time >= self.every_seconds

    def end_epoch(self, record: dict, objective_is_final: bool) -> None:
        """Keep the epoch's weights if they are the best, and append its metrics line."""
        if is_new_best(self.progress, record, objective_is_final):
            self.best_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        if distributed.is_main():
            append_jsonl(self.run_dir / METRICS, record)  # before the checkpoint: a resume drops lines after it
        crash_point("metrics:appended")

    def save(self) -> None:
        """Write the checkpoint now, as one file replacing the previous one in one rename
        (data-parallel: rank 0 writes; every process holds the same weights, and hands it
        its own random state: every process calls save). The one it replaces stays under
        PREVIOUS until the next save or the end of training, for fall_back."""
        rng = _rng_tensors(self.generator, self.noise)
        self.previous_step = self.saved_step if self.committed else None
        if not distributed.is_main():
            self.saved_step, self.saved_time, self.committed = self.progress.step, time.monotonic(), True
            return
        crash_point("checkpoint:begin")
        p = self.progress
        weights = self.model.state_dict()
        tensors = {MODEL + k: v for k, v in weights.items()}
        if self.best_weights is not None and not (p.best_epoch == p.epoch and p.batch == 0):
            tensors.update({BEST_WEIGHTS + k: v for k, v in self.best_weights.items()})
        # buffers outside the weights: the epoch's running statistics (a codebook's usage)
        tensors.update({BUFFERS + k: v for k, v in self.model.named_buffers() if k not in weights})
        skeleton = flatten(self.optimizer.state_dict(), "optimizer", tensors)
        tensors.update(rng)
        for name, value in (("epoch/sums", p.sums), ("rng/epoch_start", p.epoch_start)):
            if value is not None:
                tensors[name] = value
        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
        metadata = {"format": FORMAT, **{k: json.dumps(v) for k, v in self.meta.items()}, "epoch": json.dumps(p.epoch),
                    "progress": json.dumps(p.plain()), "optimizer": json.dumps(skeleton)}
        if self.scaler is not None:
            metadata["scaler"] = json.dumps(self.scaler.state_dict())  # plain numbers
        metadata = sealed(tensors, metadata)

        def write(tmp: Path) -> None:
            save_file(tensors, str(tmp), metadata=metadata)
            crash_point("checkpoint:written")

        self._keep_previous()
        atomic_write(self.run_dir / CHECKPOINT, write)
        crash_point("checkpoint:committed")
        self.saved_step, self.saved_time, self.committed = p.step, time.monotonic(), True

    def _keep_previous(self) -> None:
        """Before a new checkpoint replaces the committed one: link the committed one to
        PREVIOUS (the same file under a second name, so no copy), for fall_back."""
        previous = self.run_dir / PREVIOUS
        try:
            previous.unlink(missing_ok=True)
            if self.previous_step is not None:
                os.link(self.run_dir / CHECKPOINT, previous, follow_symlinks=False)
        except (OSError, NotImplementedError):  # a file system without hard links: only the newest is kept
            self.previous_step = None

    def fall_back(self) -> int:
        """Make the checkpoint before the newest the kept one again, when there is one: the
        newest holds weights whose first loss was found non-finite or exploded. Returns the
        step of the checkpoint now kept."""
        if self.previous_step is None:
            return self.saved_step
        try:
            if distributed.is_main():
                os.replace(self.run_dir / PREVIOUS, self.run_dir / CHECKPOINT)
            self.saved_step = self.previous_step
        except OSError as e:
            log.warning("could not go back to the checkpoint of step %d (%s); keeping step %d",
                        self.previous_step, e.strerror or e, self.saved_step)
        self.previous_step = None
        return self.saved_step

    def drop_previous(self) -> None:
        """Remove PREVIOUS when training stops, however it stops: nothing goes back to it then."""
        self.previous_step = None
        try:
            if distributed.is_main():
                (self.run_dir / PREVIOUS).unlink(missing_ok=True)
        except OSError:  # a stale one is removed at the next start; the error that stopped training goes on
            pass

    def _restore(self) -> None:
        path = self.run_dir / CHECKPOINT
        meta = read_metadata(path)
        if meta.get("model") != self.meta.get("model"):
            raise RunError(f"{path} holds a {meta.get('model')!r} run, not a {self.meta.get('model')!r} one")
        tensors = read_tensors(path)
        put_weights(self.model, {k[len(MODEL):]: v for k, v in tensors.items() if k.startswith(MODEL)}, path, MODEL)
        # the rest a resume trains on: best weights, optimizer state, the epoch's sums (a model's own
        # non-persistent buffers, such as an attention mask of -inf, may hold infinities)
        refuse_nonfinite({k: v for k, v in tensors.items() if not k.startswith((MODEL, BUFFERS, "rng/"))}, path)
        progress = Progress.from_plain(meta.get("progress"))
        try:
            self.optimizer.load_state_dict(unflatten(meta.get("optimizer"), tensors))
            _match_layouts(self.optimizer)
            if self.scaler is not None and isinstance(meta.get("scaler"), dict):
                self.scaler.load_state_dict(meta["scaler"])
            same_noise, self.own_rng_restored = _set_rng(tensors, self.generator, self.noise)
        except (KeyError, ValueError, TypeError, RuntimeError) as e:
            raise RunError(f"{path}: the optimizer or random state does not fit this run ({str(e).splitlines()[0]})") from None
        device = module_device(self.model)
        for name, buffer in self.model.named_buffers():
            saved = tensors.get(BUFFERS + name)
            if saved is not None and saved.shape == buffer.shape:
                buffer.copy_(saved)
        progress.sums = tensors["epoch/sums"].to(device) if "epoch/sums" in tensors else None
        progress.epoch_start = tensors.get("rng/epoch_start")
        self.progress = progress
        if not same_noise and progress.batch > 0:
            self.noise.manual_seed(progress.step)
            log.warning("resuming mid-epoch on another device: the rest of this epoch's dynamic binarization "
                        "differs from an uninterrupted run's (the data order does not)")
        best = {k[len(BEST_WEIGHTS):]: v.to(device) for k, v in tensors.items() if k.startswith(BEST_WEIGHTS)}
        if best or progress.best_epoch:  # no best/*: the best weights are the model's own
            self.best_weights = best or {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.trim_metrics(progress.epoch)
        self.saved_step, self.committed = progress.step, True
        log.info("resuming %s at epoch %d, step %d", self.run_dir, progress.epoch + (progress.batch > 0), progress.step)

    def trim_metrics(self, epoch: int) -> None:
        """Drop the metrics lines of epochs after `epoch` (those of the checkpoint), written
        before a crash, a divergence or a second Ctrl-C: their weights were never kept. A
        last line cut short by a kill goes too, so that the next line starts on its own."""
        if distributed.is_main() and (self.run_dir / METRICS).exists():
            records = read_jsonl(self.run_dir / METRICS)
            rewrite_jsonl(self.run_dir / METRICS, [r for r in records if r["epoch"] <= epoch])

    def export(self) -> None:
        """Write last.safetensors and best.safetensors, the weights alone, from the committed checkpoint."""
        if not distributed.is_main():
            return
        path = self.run_dir / CHECKPOINT
        progress = Progress.from_plain(read_metadata(path).get("progress"))
        self.trim_metrics(progress.epoch)
        model = read_tensors(path, MODEL)
        save_weights(model, self.run_dir / LAST, epoch=progress.epoch, **self.meta)
        crash_point("export:last")
        best = read_tensors(path, BEST_WEIGHTS) or model
        save_weights(best, self.run_dir / BEST, epoch=progress.best_epoch or progress.epoch, **self.meta)
        crash_point("export:best")


def _rng_tensors(generator: torch.Generator, noise: torch.Generator | None) -> dict[str, torch.Tensor]:
    """torch's global RNG, CUDA's (when in use) and the data generators, as uint8 tensors.

    Data-parallel, a collective: the model's own noise (reparameterisation, restarts) is
    each process's, so rank r > 0 adds rng/rank{r}/torch (and /cuda, its GPU's); the data
    generators are the same on every process."""
    tensors = {"rng/torch": torch.get_rng_state(), "rng/data": generator.get_state()}
    if noise is not None:
        tensors[f"rng/data_noise/{noise.device.type}"] = noise.get_state()
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    if cuda:
        tensors.update({f"rng/cuda/{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    if distributed.active():
        for r, state in enumerate(distributed.gathered(torch.get_rng_state())[1:], start=1):
            tensors[f"rng/rank{r}/torch"] = state
        for r, state in enumerate(distributed.gathered(torch.cuda.get_rng_state())[1:] if cuda else [], start=1):
            tensors[f"rng/rank{r}/cuda"] = state
    return tensors


def _set_rng(tensors: dict[str, torch.Tensor], generator: torch.Generator, noise: torch.Generator | None) -> tuple[bool, bool]:
    """Restore the random states. Returns (whether the data's device generator could be
    restored: not when the run moved between devices, and it is then reseeded at the next
    epoch; whether this process got its own model RNG back: not when the checkpoint was
    written by fewer processes, and the caller then reseeds it)."""
    rank = distributed.rank()
    own = "rng/torch" if rank == 0 else f"rng/rank{rank}/torch"
    if rank == 0 or own in tensors:
        torch.set_rng_state(tensors[own])
    generator.set_state(tensors["rng/data"])
    cuda = [tensors[f"rng/cuda/{i}"] for i in range(len([k for k in tensors if k.startswith("rng/cuda/")]))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    if rank > 0 and f"rng/rank{rank}/cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors[f"rng/rank{rank}/cuda"])
    saved = next((k for k in tensors if k.startswith("rng/data_noise/")), None)
    if noise is None or saved != f"rng/data_noise/{noise.device.type}":
        return noise is None, own in tensors
    noise.set_state(tensors[saved])
    return True, own in tensors


def _match_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each restored optimizer state tensor its parameter's memory layout (saved
    contiguous; a channels-last weight needs channels-last moments, e.g. for fused Adam)."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if isinstance(value, torch.Tensor) and value.shape == param.shape and value.stride() != param.stride():
                    state[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def best_epoch(folder: Path) -> int | None:
    """The epoch whose weights `load(folder, 'best')` gives (None when unknown): the checkpoint's
    record, or the metadata of exported weights without a checkpoint."""
    progress = checkpoint_progress(folder)
    if progress is not None:
        return progress.best_epoch or None
    path = Path(folder) / BEST
    return read_metadata(path).get("epoch") if path.is_file() else None


def checkpoint_progress(folder: Path) -> Progress | None:
    """The Progress recorded in a run folder's checkpoint, or None when there is none."""
    path = Path(folder) / CHECKPOINT
    return Progress.from_plain(read_metadata(path).get("progress")) if path.is_file() else None
