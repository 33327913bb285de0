"""The files of a model folder and of a run folder: their names, the safetensors weights
with their metadata, the config and the metrics lines. One format, written and read here
alone: `model.save_pretrained(folder)` and `vaelab.load(folder)`, the trainer's
Checkpointer, the report and the command line all go through it.

    FOLDER/config.yaml            the config (the model's section, and the data's and
                                  training's for a run)
    FOLDER/last.safetensors       the weights alone, with metadata: the model's name, the
                                  images' shape (C, H, W), the number of classes, the data
                                  record; save_pretrained writes this and config.yaml only
    RUN/best.safetensors          the best epoch's weights
    RUN/checkpoint.safetensors    everything a resume needs (training/checkpoint.py)
    RUN/metrics.jsonl             one JSON line per epoch
    FOLDER/prior/                 a code model's prior, a folder of the same kind

So a run folder is a model folder plus its training state, and both open the same way.
Nothing is pickled: safetensors, YAML and JSON are data, and reading them runs no code.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator

import torch

from vaelab.errors import RunError
from vaelab.files import atomic_write

CONFIG = "config.yaml"
CHECKPOINT = "checkpoint.safetensors"
LAST = "last.safetensors"
BEST = "best.safetensors"
METRICS = "metrics.jsonl"
LEGACY_STATE = "trainer_state.pt"  # vaelab 0.1's trainer state: a pickle, never opened
RUN_FILES = (CONFIG, CHECKPOINT, LAST, BEST, METRICS, LEGACY_STATE)  # what makes a folder a run folder
FORMAT = "vaelab/1"
MODEL, BEST_WEIGHTS, BUFFERS = "model/", "best/", "buffers/"  # name prefixes inside checkpoint.safetensors
PRIOR_DIR = "prior"  # a code model's prior: a folder of its own inside the model's (its config, its weights)


def write_config(folder: Path, config: dict) -> None:
    """FOLDER/config.yaml from a plain nested dict, written atomically."""
    import yaml

    atomic_write(Path(folder) / CONFIG, lambda tmp: tmp.write_text(yaml.safe_dump(config, sort_keys=False)))


def save_weights(state_dict: dict[str, torch.Tensor], path: Path, **meta) -> None:
    """Weights as safetensors, with string metadata (`format`, plus JSON-encoded `meta`)."""
    from safetensors.torch import save_file  # here: importing a model needs no safetensors

    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    metadata = {"format": FORMAT, **{k: json.dumps(v) for k, v in meta.items()}}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


@contextlib.contextmanager
def _opened(path: Path) -> Iterator:
    """safe_open(path) (it reads the header only); a file it cannot read is a RunError."""
    from safetensors import SafetensorError
    from safetensors.torch import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            yield f
    except (SafetensorError, OSError) as e:
        raise RunError(f"{path}: not a readable safetensors file ({str(e).splitlines()[0]})") from None


def read_metadata(path: Path) -> dict:
    """The metadata saved with weights or a checkpoint, JSON values decoded."""
    with _opened(path) as f:
        raw = f.metadata() or {}
    if raw.get("format") != FORMAT:
        raise RunError(f"{path}: not a vaelab checkpoint (format {raw.get('format')!r})")
    try:
        return {k: json.loads(v) for k, v in raw.items() if k != "format"}
    except ValueError as e:
        raise RunError(f"{path}: its metadata is not JSON ({e})") from None


def read_tensors(path: Path, prefix: str = "") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file whose names start with `prefix` (prefix removed), on the CPU."""
    with _opened(path) as f:
        return {k[len(prefix):]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}


def load_weights(model: torch.nn.Module, path: Path, prefix: str = "") -> None:
    """Load the weights stored under `prefix` in `path` into `model`; a mismatch is a RunError."""
    put_weights(model, read_tensors(path, prefix), path)


def put_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Load `tensors` (read from `path`) into `model`; a mismatch is a RunError naming the file."""
    try:
        device = next((t.device for t in (*model.parameters(), *model.buffers())), torch.device("cpu"))
        model.load_state_dict({k: v.to(device) for k, v in tensors.items()})
    except RuntimeError as e:  # missing/unexpected keys or size mismatches
        first = str(e).splitlines()[0]
        raise RunError(f"{path} does not fit the model in its config: {first}") from None


def weights_source(folder: Path, which: str) -> tuple[Path, str] | None:
    """(file, name prefix) holding a run folder's `which` weights ('best' or 'last'), or None.

    The checkpoint is never older than the exported files, so it comes first ('best' is
    its model/* while no epoch has beaten them); exported files alone (weights shared
    without their checkpoint, or a run of vaelab 0.1) next.
    """
    checkpoint = Path(folder) / CHECKPOINT
    if checkpoint.is_file():
        with _opened(checkpoint) as f:
            best = which == "best" and any(k.startswith(BEST_WEIGHTS) for k in f.keys())
        return checkpoint, BEST_WEIGHTS if best else MODEL
    for name in [BEST, LAST] if which == "best" else [LAST]:
        if (Path(folder) / name).is_file():
            return Path(folder) / name, ""
    return None


def append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    """The epoch records of a metrics file ([] when there is none). A last line that a kill
    cut short mid-write (no newline after it, not JSON) is dropped; any other line that is
    not an epoch record is a RunError."""
    if not Path(path).exists():
        return []
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RunError(f"{path} is not a metrics file of JSON lines ({e})") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and not text.endswith("\n") and not _is_json(lines[-1]):
        lines.pop()
    try:
        records = [json.loads(line) for line in lines]
    except ValueError as e:
        raise RunError(f"{path} is not a metrics file of JSON lines ({e})") from None
    if not all(isinstance(r, dict) and isinstance(r.get("epoch"), int) for r in records):
        raise RunError(f"{path} is not a metrics file: each line must be a JSON object with an 'epoch'")
    return records


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def rewrite_jsonl(path: Path, records: list[dict]) -> None:
    atomic_write(path, lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in records)))
