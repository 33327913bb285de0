"""Nested state (an optimizer's state_dict) as flat tensors plus a JSON skeleton: data only.

torch.save would pickle it, and unpickling a file can run any code the file names.
Instead each tensor goes to a flat dict under a key such as "optimizer/state/0/exp_avg",
to be stored in a safetensors file, and the structure with the plain values goes to JSON:

    {"dict": [[0, {"dict": [["step", {"tensor": "optimizer/state/0/step"}], ...]}], ...]}

Dicts are lists of [key, value] pairs so that integer keys (an optimizer numbers its
parameters) come back as integers; tuples come back as tuples.
"""

from __future__ import annotations

import torch

from vaelab.errors import RunError

PLAIN = (bool, int, float, str, type(None))


def flatten(value, prefix: str, tensors: dict[str, torch.Tensor]):
    """The JSON skeleton of `value`; its tensors are added to `tensors` (on the CPU)."""
    if isinstance(value, torch.Tensor):
        tensors[prefix] = value.detach().cpu().contiguous()
        return {"tensor": prefix}
    if isinstance(value, dict):
        return {"dict": [[k, flatten(v, f"{prefix}/{k}", tensors)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {kind: [flatten(v, f"{prefix}/{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, PLAIN):
        return {"value": value}
    raise TypeError(f"cannot store a {type(value).__name__} at {prefix}")


def unflatten(skeleton, tensors: dict[str, torch.Tensor]):
    """The nested value that `flatten` took apart; RunError if the skeleton is malformed."""
    if not isinstance(skeleton, dict) or len(skeleton) != 1:
        raise RunError(f"malformed saved state near {str(skeleton)[:60]!r}")
    (kind, body), = skeleton.items()
    if kind == "tensor" and body in tensors:
        return tensors[body]
    if kind == "dict" and isinstance(body, list) and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], (int, str)) for p in body):
        return {k: unflatten(v, tensors) for k, v in body}
    if kind in ("list", "tuple") and isinstance(body, list):
        items = [unflatten(v, tensors) for v in body]
        return tuple(items) if kind == "tuple" else items
    if kind == "value" and isinstance(body, PLAIN):
        return body
    raise RunError(f"malformed saved state: {kind!r} entry {str(body)[:60]!r}")
