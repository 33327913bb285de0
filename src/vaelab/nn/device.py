"""Devices: the one a config names, and the one a module lives on."""

from __future__ import annotations

import torch

from vaelab.errors import ConfigError

DEVICES = "auto, cpu, cuda, cuda:N or mps"


def pick_device(name: str) -> torch.device:
    """train.device as a torch.device: 'auto' is CUDA when available, else Apple's MPS, else the CPU.

    A ConfigError (one line) refuses a name torch cannot parse, a device type other than
    cpu, cuda and mps, and a device this machine does not have (no CUDA, a CUDA index
    beyond its GPUs, no MPS).
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(f"train.device must be {DEVICES}, got {name!r}") from None
    if device.type == "cuda":
        _check_cuda(name, device.index)
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"train.device={name}: MPS is not available on this machine; use auto or cpu")
    elif device.type not in ("cpu", "mps"):
        raise ConfigError(f"train.device must be {DEVICES}, got {name!r}")
    return device


def _check_cuda(name: str, index: int | None) -> None:
    """ConfigError unless CUDA is available and has a GPU numbered `index` (None: the current one)."""
    if not torch.cuda.is_available():
        raise ConfigError(f"train.device={name}: CUDA is not available on this machine; use auto or cpu")
    count = torch.cuda.device_count()
    if index is not None and index >= count:
        raise ConfigError(f"train.device={name}: this machine has {count} CUDA device(s), numbered 0 to {count - 1}")


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter (or buffer); the CPU for one with neither."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")
