"""Fetch a published file once, verified by its md5.

Policy:
- A file already in `root` is used only if its md5 matches. A present file with the
  wrong md5 is an error, never silently overwritten: it may be a file the user placed
  there on purpose, so we say so and let them delete it.
- A download streams into a temporary file in `root` and is renamed onto the final
  name (os.replace, atomic) only after its md5 checks out, so a failed, interrupted or
  corrupt download never leaves a file behind that a later run would trust.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import urllib.error
import urllib.request
from pathlib import Path

from vaelab.errors import DataError
from vaelab.files import atomic_write

TIMEOUT_S = 30.0
CHUNK = 1 << 20


def md5sum(path) -> str:
    """Hex md5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)  # integrity check against published sums, not security
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(filename: str, root, mirrors: list[str], md5: str, *, download: bool = True,
          timeout: float = TIMEOUT_S) -> Path:
    """Path of root/filename, downloading it from the first mirror that serves it intact.

    Each mirror is a URL prefix: the file's URL is mirror + filename. Raises DataError
    if the file is present with a wrong md5, missing with download=False, or no mirror
    delivers it with the expected md5.
    """
    root = Path(root).expanduser()
    path = root / filename
    if path.exists():
        try:
            got = md5sum(path)
        except OSError as e:
            raise DataError(f"cannot read {path} to check its md5 ({e}).") from None
        if got != md5:
            raise DataError(
                f"{path} has md5 {got}, expected {md5}: the file is corrupt or a different "
                f"version; delete it (or replace it with the published file) and run again."
            )
        return path
    if not download:
        raise DataError(f"{path} is missing and downloading is disabled (data.download=false); "
                        f"place the file there or enable data.download.")

    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the data folder {root} to download {filename} into ({e}).") from None
    tried = []
    for mirror in mirrors:
        url = mirror + filename
        try:
            _download(url, path, md5, timeout)
            return path
        except urllib.error.HTTPError as e:  # before URLError: it is a subclass
            tried.append(f"{url} (HTTP {e.code} {e.reason})")
        except urllib.error.URLError as e:
            tried.append(f"{url} (cannot connect, offline? {e.reason})")
        except (socket.timeout, TimeoutError):
            tried.append(f"{url} (timed out after {timeout:g} s)")
        except _BadTransfer as e:
            tried.append(f"{url} ({e})")
        except (OSError, http.client.HTTPException) as e:  # connection cut mid-transfer, disk full, ...
            tried.append(f"{url} ({type(e).__name__}: {e})")
    raise DataError(
        f"could not download {filename}: tried {'; '.join(tried) or 'no mirrors'}; "
        f"you can download it by hand and place it in {root}."
    )


class _BadTransfer(Exception):
    """The transfer was cut short or the bytes do not have the expected md5."""


def _download(url: str, path: Path, md5: str, timeout: float) -> None:
    """Stream url into a temporary file beside `path`; rename onto `path` if the md5 matches."""

    def stream(tmp: Path) -> None:
        digest, received = hashlib.md5(usedforsecurity=False), 0
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            expected = response.headers.get("Content-Length")
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                received += len(chunk)
        # A dropped connection just ends the stream early; say so rather than "bad checksum".
        if expected is not None and received != int(expected):
            raise _BadTransfer(f"transfer cut short: got {received} of {expected} bytes")
        if digest.hexdigest() != md5:
            raise _BadTransfer(f"checksum mismatch: expected md5 {md5}, got {digest.hexdigest()}")

    atomic_write(path, stream, suffix=".part")  # on any failure the partial file goes away
