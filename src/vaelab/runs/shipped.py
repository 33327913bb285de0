"""The configs shipped inside the package (vaelab/configs/NAME.yaml), found by name from any
folder: `vaelab train quickstart`, `vaelab.load_config("quickstart")`. A file that exists
always wins over a shipped config of the same name.
"""

from __future__ import annotations

from pathlib import Path

from vaelab.errors import ConfigError


SHIPPED = Path(__file__).resolve().parents[1] / "configs"
SUFFIX = ".yaml"


def shipped_configs() -> dict[str, str]:
    """Each shipped config's name -> its description (the first comment line of its file)."""
    return {path.stem: _description(path) for path in sorted(SHIPPED.glob(f"*{SUFFIX}"))}


def find_config(path: str | Path) -> Path:
    """The config file `path` names: that file when it exists, else the shipped config of
    that name (`quickstart` or `quickstart.yaml`, no folder). A one-line ConfigError otherwise."""
    path = Path(path)
    if path.is_file():
        return path
    shipped = SHIPPED / f"{path.stem}{SUFFIX}"
    is_name = str(path) == path.name and path.suffix in ("", SUFFIX)
    if is_name and shipped.is_file():
        return shipped
    if is_name:
        raise ConfigError(f"config file {path} not found, nor a shipped config named {path.stem} (list them: vaelab configs)")
    hint = f" (the shipped one is named without a folder: {path.stem})" if shipped.is_file() else ""
    raise ConfigError(f"config file {path} not found{hint}")


def _description(path: Path) -> str:
    """The first line of a config file, when it is a comment: what the config trains."""
    with path.open(encoding="utf-8") as f:
        first = f.readline().strip()
    return first.lstrip("#").strip() if first.startswith("#") else ""
