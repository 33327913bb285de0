"""Run folders on disk: what is in one, writing its files atomically, and the Checkpointer
that saves and restores a training run.

    RUN/config.yaml          the full RunConfig
    RUN/last.safetensors     weights at the last checkpoint (end of an epoch, or an interrupt)
    RUN/best.safetensors     weights of the epoch with the lowest validation loss so far
    RUN/trainer_state.pt     optimizer, LR schedule, epoch, step, RNG states: what --resume needs
    RUN/metrics.jsonl        one JSON line per epoch
    RUN/*.png                pictures

Weights carry metadata (model name, data shape, epoch) so that a run can be rebuilt
from its folder alone and a checkpoint of another model is recognised.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from pathlib import Path

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from vaelab.errors import RunError
from vaelab.files import atomic_write
from vaelab.nn.device import module_device

CONFIG = "config.yaml"
LAST = "last.safetensors"
BEST = "best.safetensors"
STATE = "trainer_state.pt"
METRICS = "metrics.jsonl"
FORMAT = "vaelab/1"


def save_weights(state_dict: dict[str, torch.Tensor], path: Path, **meta) -> None:
    """Weights as safetensors, with string metadata (`format`, plus JSON-encoded `meta`)."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    metadata = {"format": FORMAT, **{k: json.dumps(v) for k, v in meta.items()}}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def read_metadata(path: Path) -> dict:
    """The metadata saved by `save_weights`, JSON values decoded."""
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise RunError(f"{path}: not a readable safetensors file ({e})") from None
    if raw.get("format") != FORMAT:
        raise RunError(f"{path}: not a vaelab checkpoint (format {raw.get('format')!r})")
    return {k: json.loads(v) for k, v in raw.items() if k != "format"}


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Load weights saved by `save_weights` into `model`; a mismatch is a RunError."""
    try:
        model.load_state_dict(load_file(str(path), device=str(module_device(model))))
    except RuntimeError as e:  # missing/unexpected keys or size mismatches
        first = str(e).splitlines()[0]
        raise RunError(f"{path} does not fit the model in its config: {first}") from None


def same_file(source: Path, target: Path) -> None:
    """Make `target` hold what `source` holds now (a hard link, or a copy where links fail).

    Safe because files here are only ever replaced whole (atomic_write), never edited:
    a later replacement of `source` leaves `target` as it was.
    """
    def link(tmp: Path) -> None:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)

    atomic_write(target, link)


def save_state(state: dict, path: Path) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    if not Path(path).exists():
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def rewrite_jsonl(path: Path, records: list[dict]) -> None:
    atomic_write(path, lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in records)))


def is_new_best(state: dict, record: dict, objective_is_final: bool) -> bool:
    """Whether this epoch's weights become the best; updates state['best'] and ['best_epoch'].

    Best = lowest held-out loss (training loss when nothing is held out). While the
    objective is not final (a KL warm-up still raises beta), losses of different epochs
    measure different things, so the latest epoch is always taken.
    """
    score = record["val/loss"] if "val/loss" in record else record["train/loss"]
    if objective_is_final and score >= state["best"]:
        return False
    state.update(best=score if objective_is_final else math.inf, best_epoch=record["epoch"])
    return True


class Checkpointer:
    """Saves and restores one training run in `run_dir`: weights (last and best), optimizer,
    LR schedule, data-order generator, RNG state, and the counters in `state`
    (epoch, step, best score, best epoch), which the training loop updates.

    Writing the optimizer state every short epoch costs several percent, so a checkpoint
    is written at most every `every_seconds`, always after the last epoch, and when
    `save` is called (the loop calls it on Ctrl-C). The best weights are copied in memory
    when they become best and written with the next checkpoint.
    """

    def __init__(self, run_dir: Path, model: torch.nn.Module, optimizer, schedule, generator: torch.Generator,
                 meta: dict, every_seconds: float):
        self.run_dir, self.model, self.meta, self.every_seconds = Path(run_dir), model, meta, every_seconds
        self.optimizer, self.schedule, self.generator = optimizer, schedule, generator
        self.state = {"epoch": 0, "step": 0, "best": math.inf, "best_epoch": 0}
        self.best_weights: dict | None = None  # best weights not yet written (a copy, taken when they were best)
        self.last_write = time.monotonic()

    def start(self, resume: bool, config: dict) -> None:
        """Restore the run from its folder (resume), or begin an empty one; write config.yaml."""
        if resume:
            self._restore()
        else:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / METRICS).unlink(missing_ok=True)
        atomic_write(self.run_dir / CONFIG, lambda tmp: tmp.write_text(yaml.safe_dump(config, sort_keys=False)))
        self.last_write = time.monotonic()

    def _restore(self) -> None:
        if not (self.run_dir / STATE).exists():
            raise RunError(f"{self.run_dir} has no {STATE} to resume from")
        saved = load_state(self.run_dir / STATE)
        load_weights(self.model, self.run_dir / LAST)
        self.optimizer.load_state_dict(saved["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(saved["schedule"])
        self.generator.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        self.state = {k: saved[k] for k in self.state}
        # drop metric lines of epochs after the checkpoint (written before a crash)
        kept = [r for r in read_jsonl(self.run_dir / METRICS) if r["epoch"] <= self.state["epoch"]]
        rewrite_jsonl(self.run_dir / METRICS, kept)
        logging.getLogger("vaelab").info("resuming %s at epoch %d, step %d", self.run_dir, self.state["epoch"], self.state["step"])

    def end_epoch(self, record: dict, objective_is_final: bool, last: bool) -> None:
        """Count the epoch, keep its weights if they are the best, append its metrics line,
        and write a checkpoint if this is the `last` epoch or one is due."""
        self.state["epoch"] = record["epoch"]
        if is_new_best(self.state, record, objective_is_final):
            self.best_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        append_jsonl(self.run_dir / METRICS, record)  # before the checkpoint: see _restore
        if last or time.monotonic() - self.last_write >= self.every_seconds:
            self.save()

    def save(self) -> None:
        """Write the checkpoint now: last (and pending best) weights, then the trainer state."""
        state, meta = self.state, self.meta
        save_weights(self.model.state_dict(), self.run_dir / LAST, epoch=state["epoch"], **meta)
        if self.best_weights is not None and state["best_epoch"] == state["epoch"]:
            same_file(self.run_dir / LAST, self.run_dir / BEST)  # no second serialisation
        elif self.best_weights is not None:
            save_weights(self.best_weights, self.run_dir / BEST, epoch=state["best_epoch"], **meta)
        self.best_weights = None
        full = {
            **state,
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict() if self.schedule is not None else None,
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        save_state(full, self.run_dir / STATE)
        self.last_write = time.monotonic()

    def has_weights(self) -> bool:
        return (self.run_dir / LAST).exists()
