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
    RUN/metrics.jsonl             one JSON line per epoch: an object of numbers (ints or
                                  floats, NaN and inf included), "epoch" an int
    FOLDER/prior/                 a code model's prior, a folder of the same kind

So a run folder is a model folder plus its training state, and both open the same way.
Nothing is pickled: safetensors, YAML and JSON are data, and reading them runs no code.

Every safetensors file vaelab writes carries, in its metadata (`sha256`), the SHA-256 of
each tensor (its dtype, shape and bytes), computed from the tensors as they are written;
every read of tensors checks the tensors it reads against it, so a damaged or edited
file is refused by name. The digests travel inside the file they describe, so the one
rename that commits a file commits its digests with it (a separate digest file could be
left behind by a kill between two renames). Files of earlier versions have none and are
read unchecked. Weights are refused when they hold NaN or inf, digests or not.
"""

from __future__ import annotations

import contextlib
import hashlib
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
DIGESTS = "sha256"  # metadata key of every safetensors file vaelab writes: {tensor name: SHA-256}, as JSON
PRIOR_DIR = "prior"  # a code model's prior: a folder of its own inside the model's (its config, its weights)
MARKER = ".vaelab-run"  # written when a run starts: what --overwrite asks before it deletes anything


def refuse_links(folder: str | Path) -> None:
    """RunError naming the first entry of `folder` (a run folder, or its prior/) that is a
    symbolic link. vaelab reads and writes a run folder's files by name; a folder someone
    handed you may carry links, and through one a write would land outside the folder."""
    folder = Path(folder)
    for entry in sorted(folder.iterdir()) if folder.is_dir() else ():
        if entry.is_symlink():
            raise RunError(f"{entry} is a symbolic link; vaelab reads and writes a run folder's files by name and "
                           f"never through a link: replace it with the file itself, or remove it")


def write_marker(folder: Path) -> None:
    """FOLDER/.vaelab-run: vaelab's mark on a run folder it made (a random id and the time)."""
    import uuid
    from datetime import datetime, timezone

    mark = {"format": FORMAT, "id": uuid.uuid4().hex, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    atomic_write(Path(folder) / MARKER, lambda tmp: tmp.write_text(json.dumps(mark) + "\n"))


def made_by_vaelab(folder: Path) -> bool:
    """Whether `folder` is a run vaelab made: its marker, or (runs from before the marker)
    weights or a checkpoint that carry vaelab's format. Another program's config.yaml or
    metrics.jsonl is neither."""
    folder = Path(folder)
    marker = folder / MARKER
    if marker.is_file() and not marker.is_symlink():
        try:
            return json.loads(marker.read_text()).get("format") == FORMAT
        except (OSError, ValueError, AttributeError):
            return False
    for name in (CHECKPOINT, LAST, BEST):
        try:
            if (folder / name).is_file():
                read_metadata(folder / name)
                return True
        except RunError:
            continue
    return False


def write_config(folder: Path, config: dict) -> None:
    """FOLDER/config.yaml from a plain nested dict, written atomically."""
    import yaml

    atomic_write(Path(folder) / CONFIG, lambda tmp: tmp.write_text(yaml.safe_dump(config, sort_keys=False)))


def save_weights(state_dict: dict[str, torch.Tensor], path: Path, **meta) -> None:
    """Weights as safetensors, with string metadata (`format`, plus JSON-encoded `meta`)."""
    from safetensors.torch import save_file  # here: importing a model needs no safetensors

    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    metadata = sealed(tensors, {"format": FORMAT, **{k: json.dumps(v) for k, v in meta.items()}})
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def sealed(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> dict[str, str]:
    """`metadata` plus the SHA-256 of each of `tensors` (CPU, contiguous: what is written),
    under DIGESTS: what every writer of a safetensors file passes to save_file."""
    return {**metadata, DIGESTS: json.dumps({name: tensor_digest(t) for name, t in tensors.items()})}


def tensor_digest(tensor: torch.Tensor) -> str:
    """SHA-256 (hex) of a CPU tensor's dtype, shape and bytes (as safetensors stores them)."""
    digest = hashlib.sha256(f"{tensor.dtype} {list(tensor.shape)}\n".encode())
    digest.update(tensor.contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


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
        return {k: json.loads(v) for k, v in raw.items() if k not in ("format", DIGESTS)}
    except ValueError as e:
        raise RunError(f"{path}: its metadata is not JSON ({e})") from None


def read_tensors(path: Path, prefix: str = "") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file whose names start with `prefix` (prefix removed), on
    the CPU, each checked against the SHA-256 recorded when the file was written (a file of
    an earlier version, without digests, is read unchecked); a mismatch is a RunError."""
    with _opened(path) as f:
        digests = _recorded_digests(path, f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
    if digests is not None:
        recorded = {k for k in digests if k.startswith(prefix)}
        changed = sorted(k for k, t in tensors.items() if digests.get(k) != tensor_digest(t))
        changed = changed or sorted(recorded - tensors.keys())  # a tensor gone from the header
        if changed:
            raise RunError(f"{path}: its tensors do not match the SHA-256 recorded when it was written (damaged or "
                           f"edited; first: {changed[0]}); restore the file from a copy, or train the run again")
    return {k[len(prefix):]: t for k, t in tensors.items()}


def _recorded_digests(path: Path, metadata: dict[str, str]) -> dict[str, str] | None:
    """{tensor name: SHA-256} recorded in a file's metadata; None for a file without (an earlier version's)."""
    if DIGESTS not in metadata:
        return None
    try:
        digests = json.loads(metadata[DIGESTS])
    except ValueError:
        digests = None
    if not (isinstance(digests, dict) and all(isinstance(v, str) for v in digests.values())):
        raise RunError(f"{path}: its recorded SHA-256 digests are malformed (damaged or edited)")
    return digests


def refuse_nonfinite(tensors: dict[str, torch.Tensor], path: Path, prefix: str = "") -> None:
    """RunError naming the first floating tensor of `tensors` (read from `path`, names
    without `prefix`) that holds NaN or inf. One read-back for all of them."""
    floats = [(name, t) for name, t in tensors.items() if t.is_floating_point() and t.numel()]
    if not floats or bool(torch.stack([torch.isfinite(t).all().cpu() for _, t in floats]).all()):
        return
    name = next(name for name, t in floats if not bool(torch.isfinite(t).all()))
    raise RunError(f"{path}: {prefix}{name} holds NaN or inf (a damaged file, or one saved by a run that diverged)")


def load_weights(model: torch.nn.Module, path: Path, prefix: str = "") -> None:
    """Load the weights stored under `prefix` in `path` into `model`: checked against their
    SHA-256 and for NaN or inf; a damaged file or a mismatch is a RunError."""
    put_weights(model, read_tensors(path, prefix), path, prefix)


def put_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path, prefix: str = "") -> None:
    """Load `tensors` (read from `path`, where their names start with `prefix`) into `model`;
    NaN or inf in them, or a mismatch, is a RunError naming the file (and the tensor)."""
    refuse_nonfinite(tensors, path, prefix)
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
    not an epoch record (a JSON object of numbers with an integer 'epoch') is a RunError
    naming its line: what reads the records may then format every value as a number."""
    if not Path(path).exists():
        return []
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise RunError(f"{path} is not a metrics file of JSON lines ({e})") from None
    lines = [(n, line) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
    if lines and not text.endswith("\n") and not _is_json(lines[-1][1]):
        lines.pop()
    return [_epoch_record(path, n, line) for n, line in lines]


def _epoch_record(path: Path, n: int, line: str) -> dict:
    """Line `n` of a metrics file, checked: a JSON object whose values are numbers (ints or
    floats, NaN and inf included; not booleans), its 'epoch' an int."""
    try:
        record = json.loads(line)
    except ValueError as e:
        raise RunError(f"{path} is not a metrics file of JSON lines (line {n}: {e})") from None
    epoch = record.get("epoch") if isinstance(record, dict) else None
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        raise RunError(f"{path} is not a metrics file: line {n} is not a JSON object with an integer 'epoch'")
    bad = next((k for k, v in record.items() if not _is_number(v)), None)
    if bad is not None:
        raise RunError(f"{path} is not a metrics file: line {n} holds {json.dumps(record[bad])[:40]} as {bad!r}, "
                       f"where a number belongs")
    return record


def _is_number(value) -> bool:
    """An int or a float that converts to a float (NaN and inf included); not a boolean."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        float(value)
    except OverflowError:  # an int beyond the float range
        return False
    return True


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def rewrite_jsonl(path: Path, records: list[dict]) -> None:
    atomic_write(path, lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in records)))
