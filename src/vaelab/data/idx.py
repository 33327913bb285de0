"""IDX files, the format MNIST and Fashion-MNIST are published in.

Layout (big-endian): two zero bytes, a dtype code (0x08 = unsigned byte, the only one
these datasets use), the number of dimensions D, then D int32 sizes, then the data in
row-major order. Files may be gzip-compressed; we recognise gzip by its magic bytes, so
a file's name does not have to say it.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import torch

from vaelab.errors import DataError

UINT8 = 0x08
GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path) -> torch.Tensor:
    """Read an IDX file (raw or gzip) -> uint8 tensor with the shape its header gives."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file.") from None
    except (OSError, EOFError, zlib.error) as e:  # unreadable, or a truncated/corrupt gzip stream
        raise DataError(f"{path}: cannot read or decompress it ({e}); delete it and fetch it again.") from None

    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()}).")
    code, ndim = raw[2], raw[3]
    if code != UINT8:
        raise DataError(f"{path}: IDX dtype code 0x{code:02x} is not supported (only 0x08, uint8).")
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: IDX header is truncated or declares {ndim} dimensions.")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = math.prod(shape)
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: header says shape {list(shape)} ({expected} bytes) but the file holds "
            f"{len(raw) - header} data bytes; the file is truncated or corrupt, fetch it again."
        )
    # bytearray: torch.frombuffer wants a writable buffer.
    return torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8).reshape(shape)


def write_idx(path, tensor: torch.Tensor) -> None:
    """Write a uint8 tensor as an IDX file, gzip-compressed when the name ends with .gz."""
    path = Path(path)
    if tensor.dtype != torch.uint8 or tensor.dim() == 0:
        raise DataError(f"{path}: write_idx writes uint8 tensors of at least one dimension, got {tensor.dtype}.")
    header = bytes([0, 0, UINT8, tensor.dim()]) + struct.pack(f">{tensor.dim()}I", *tensor.shape)
    data = header + tensor.contiguous().cpu().numpy().tobytes()
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)  # mtime=0: same tensor, same bytes, same md5
    path.write_bytes(data)
