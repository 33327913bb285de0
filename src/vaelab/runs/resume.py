"""What may change when a run resumes, and what may not.

Overrides given with a resume either take effect or are refused by name, so that
config.yaml always records what the run used. The optimizer's settings for the steps to
come and the bookkeeping may change (a new learning rate or weight decay reaches the
optimizer; more epochs extend the run and stretch a cosine schedule to the new end;
gradient clipping and the NaN policy apply from the next step); what the model is, the
data it sees, and the order in which the run visits them may not.
"""

from __future__ import annotations

from typing import Iterator

from vaelab.errors import ConfigError

CHANGEABLE_TRAIN_KEYS = ("epochs", "lr", "weight_decay", "lr_schedule", "grad_clip", "device", "eval_batch_size",
                         "checkpoint_seconds", "checkpoint_steps", "progress", "tensorboard", "log_every", "nonfinite",
                         "data_on_device", "precision", "channels_last", "compile")  # the last four: how to compute
CHANGEABLE = {f"train.{k}" for k in CHANGEABLE_TRAIN_KEYS} | {"data.root", "data.download"}


def check_resume_changes(saved: dict, resumed: dict) -> None:
    """ConfigError naming the first key whose value differs between the config a run was
    trained with (`saved`) and the one it would resume with, unless it may change."""
    for key, old, new in differences(saved, resumed):
        if key not in CHANGEABLE:
            raise ConfigError(f"{key} cannot change when a run resumes (it was {old!r}, now {new!r}); "
                              f"train into a new folder instead (may change: {', '.join(sorted(CHANGEABLE))})")


def differences(a: dict, b: dict, prefix: str = "") -> Iterator[tuple[str, object, object]]:
    """(dotted key, value in a, value in b) for every leaf where two nested dicts differ."""
    for key in sorted(set(a) | set(b), key=str):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            yield from differences(x, y, f"{prefix}{key}.")
        elif x != y:
            yield f"{prefix}{key}", x, y
