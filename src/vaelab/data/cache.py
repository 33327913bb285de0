"""Decoded images cached on disk, so slow decoding (e.g. 200k JPEGs) happens once.

A cache file is safetensors (no pickle: loading it runs no code) holding one uint8
tensor "images" [N, C, H, W] and string metadata that says what it was made from.
A cache is used only if its metadata equals what the caller would make now; any
difference (other files, other size, other preprocessing) means it is rebuilt and
replaced. It is written atomically: a crash mid-write never leaves a partial cache
that a later run would trust.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from safetensors import SafetensorError
from safetensors.torch import safe_open, save_file

from vaelab.files import atomic_write


def load_cached(path: Path, meta: dict[str, str]) -> Optional[torch.Tensor]:
    """The cached uint8 images in `path` if it exists and was made with exactly `meta`, else None."""
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            if (f.metadata() or {}) != meta:
                return None
            images = f.get_tensor("images")
    except (SafetensorError, OSError, KeyError):  # unreadable or not ours: rebuild it
        return None
    return images if images.dtype == torch.uint8 and images.dim() == 4 else None


def save_cached(path: Path, images: torch.Tensor, meta: dict[str, str]) -> None:
    """Write images uint8 [N, C, H, W] and `meta` to `path`, atomically."""
    atomic_write(path, lambda tmp: save_file({"images": images.contiguous()}, str(tmp), metadata=meta))
