"""Where a dataset's files live on disk."""

from __future__ import annotations

from pathlib import Path

CACHE = Path("~/.cache/vaelab")


def dataset_root(name: str, root: str | Path | None = None) -> Path:
    """The folder of dataset `name`: `root` (data.root) when given, else ~/.cache/vaelab/<name>."""
    return Path(root).expanduser() if root is not None else CACHE.expanduser() / name
