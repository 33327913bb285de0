"""Fetch a published file once, verified by its pinned SHA-256, over https only.

Policy:
- Every file has a pinned SHA-256, and that is the check that must always hold. Where
  the publisher gives an md5, it may be passed too and is checked beside it, never
  instead of it.
- A file already in `root` is used only if its digests match. A present file with a
  wrong digest is an error, never silently overwritten: it may be a file the user
  placed there on purpose, so we say so and let them delete it.
- A download streams into a temporary file in `root`, hashed as it arrives, and is
  renamed onto the final name (os.replace, atomic) only after its digests check out, so
  a failed, interrupted or corrupt download never leaves a file behind that a later run
  would trust.
- Mirrors are https:// only, and so is every redirect a mirror answers with. Plain
  http:// is allowed for a loopback host only (127.0.0.1, localhost, ::1): nothing
  leaves the machine then, and it is how the tests serve files.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from vaelab.errors import DataError
from vaelab.files import atomic_write

TIMEOUT_S = 30.0
CHUNK = 1 << 20
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_HEX = frozenset("0123456789abcdef")


def md5sum(path) -> str:
    """Hex md5 of a file, read in 1 MiB chunks."""
    return file_digests(path, ("md5",))["md5"]


def file_digests(path, algorithms) -> dict[str, str]:
    """{algorithm: hex digest} of a file for "sha256" and/or "md5", in one pass."""
    hashers = _hashers(algorithms)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashers.items()}


def allowed_url(url: str) -> bool:
    """True for an https:// URL, or an http:// one whose host is loopback."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


def fetch(filename: str, root, mirrors: list[str], sha256: str, *, md5: str | None = None,
          download: bool = True, timeout: float = TIMEOUT_S) -> Path:
    """Path of root/filename, downloading it from the first mirror that serves it intact.

    Each mirror is a URL prefix: the file's URL is mirror + filename. It must be https://,
    or http:// to a loopback host (127.0.0.1, localhost, ::1; what the tests use); any
    other mirror is refused before anything is read or downloaded. `sha256` (hex) is
    always checked; `md5`, where the publisher gives one, is checked beside it. Raises
    DataError if a mirror is refused, the file is present with a wrong digest, missing
    with download=False, or no mirror delivers it with the expected digests.
    """
    expected = _expected(sha256, md5)
    for mirror in mirrors:
        if not allowed_url(mirror + filename):
            raise DataError(f"refusing mirror {mirror!r} for {filename}: downloads must use https:// "
                            f"(plain http:// only to a loopback host: {', '.join(sorted(LOOPBACK_HOSTS))}).")
    root = Path(root).expanduser()
    path = root / filename
    if path.exists():
        _check_present(path, expected)
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
        failure = _try(mirror + filename, path, expected, timeout)
        if failure is None:
            return path
        tried.append(failure)
    raise DataError(
        f"could not download {filename}: tried {'; '.join(tried) or 'no mirrors'}; "
        f"you can download it by hand (sha256 {sha256}) and place it in {root}."
    )


def _expected(sha256: str, md5: str | None) -> dict[str, str]:
    """{algorithm: pinned hex digest}, SHA-256 first; a malformed pin is a bug, not a user error."""
    expected = {"sha256": sha256} if md5 is None else {"sha256": sha256, "md5": md5}
    for name, digest in expected.items():
        size = hashlib.new(name, usedforsecurity=False).digest_size * 2
        if not (isinstance(digest, str) and len(digest) == size and set(digest) <= _HEX):
            raise ValueError(f"pinned {name} must be {size} lowercase hex digits, got {digest!r}")
    return expected


def _hashers(algorithms) -> dict:
    # md5 is an integrity check against a published sum, beside SHA-256, not a security measure.
    return {name: hashlib.new(name, usedforsecurity=name != "md5") for name in algorithms}


def _mismatch(got: dict[str, str], expected: dict[str, str]) -> str | None:
    """'sha256 <got>, expected <pinned>' for the first digest that differs (SHA-256 first), else None."""
    for name, want in expected.items():
        if got[name] != want:
            return f"{name} {got[name]}, expected {want}"
    return None


def _check_present(path: Path, expected: dict[str, str]) -> None:
    try:
        got = file_digests(path, expected)
    except OSError as e:
        raise DataError(f"cannot read {path} to check its sha256 ({e}).") from None
    if (wrong := _mismatch(got, expected)) is not None:
        raise DataError(f"{path} has {wrong}: the file is corrupt or a different version; delete it "
                        f"(or replace it with the published file) and run again.")


def _try(url: str, path: Path, expected: dict[str, str], timeout: float) -> str | None:
    """Download url onto path: None on success, else "<url> (why it failed)"."""
    try:
        _download(url, path, expected, timeout)
        return None
    except urllib.error.HTTPError as e:  # before URLError: it is a subclass
        return f"{url} (HTTP {e.code} {e.reason})"
    except urllib.error.URLError as e:
        return f"{url} (cannot connect, offline? {e.reason})"
    except (socket.timeout, TimeoutError):
        return f"{url} (timed out after {timeout:g} s)"
    except _BadTransfer as e:
        return f"{url} ({e})"
    except (OSError, http.client.HTTPException) as e:  # connection cut mid-transfer, disk full, ...
        return f"{url} ({type(e).__name__}: {e})"


class _BadTransfer(Exception):
    """The transfer was cut short, redirected off https, or the bytes have the wrong digest."""


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to a URL fetch() would accept as a mirror."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not allowed_url(newurl):
            raise _BadTransfer(f"redirected to {newurl}, which is not https; refused")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _download(url: str, path: Path, expected: dict[str, str], timeout: float) -> None:
    """Stream url into a temporary file beside `path`; rename onto `path` if the digests match."""

    def stream(tmp: Path) -> None:
        hashers, received = _hashers(expected), 0
        opener = urllib.request.build_opener(_HttpsOnlyRedirects)  # per call: today's proxy settings
        with open(tmp, "wb") as out, opener.open(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            while chunk := response.read(CHUNK):
                for h in hashers.values():
                    h.update(chunk)
                out.write(chunk)
                received += len(chunk)
        # A dropped connection just ends the stream early; say so rather than "bad checksum".
        if length is not None and length.isdigit() and received != int(length):
            raise _BadTransfer(f"transfer cut short: got {received} of {length} bytes")
        got = {name: h.hexdigest() for name, h in hashers.items()}
        if (wrong := _mismatch(got, expected)) is not None:
            raise _BadTransfer(f"checksum mismatch: got {wrong}")

    atomic_write(path, stream, suffix=".part")  # on any failure the partial file goes away
