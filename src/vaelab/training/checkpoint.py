"""Run folders on disk: what is in one, and writing its files atomically.

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
import os
import shutil
from pathlib import Path

import torch
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
