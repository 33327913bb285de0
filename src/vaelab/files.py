"""Writing files so that no reader ever sees half of one, nothing is written through a
symbolic link, and a write that fails (a full disk, a read-only folder) names its file."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Callable


# What a file system answers a write it refuses; such an error is reported as `path`'s.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG,
                errno.ENAMETOOLONG, errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Path], None], suffix: str = ".tmp") -> None:
    """Call write(tmp) on a temporary file beside `path`, then rename it onto `path`.

    A crash or Ctrl-C mid-write leaves the old file intact and no partial file behind.
    The rename replaces the entry `path` itself, so a symbolic link there is replaced, never
    written through. The file gets the usual permissions (0666 less the umask), not mkstemp's
    0600. An OSError (no space, a read-only folder, no permission) comes out naming `path`
    (the command line prints it as one line), and the old file stays as it was.
    """
    path, tmp = Path(path), None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
        os.close(fd)
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as e:
        if e.errno not in WRITE_ERRNOS:  # not the file system's (a download's HTTP error): as it was
            raise
        raise OSError(e.errno, e.strerror or str(e), str(path)) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def check_writable(folder: str | Path) -> None:
    """OSError now, before long work whose result goes into `folder`, when a file cannot be
    created there (read-only, no permission, a full disk's quota)."""
    atomic_write(Path(folder) / ".vaelab-write-test", lambda tmp: tmp.write_bytes(b"ok"))
    Path(folder, ".vaelab-write-test").unlink(missing_ok=True)
