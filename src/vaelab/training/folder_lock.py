"""One writer per run folder: a lock that the operating system releases when its holder dies.

flock(2) on RUN/.lock: a second trainer on the same folder fails at once instead of
interleaving its metrics and weights with the first one's; a run killed with SIGKILL
(or a crashed machine) leaves no stale lock behind, because the lock lives in the
process's open file, not in the file's existence. The file holds the holder's pid, for
the message. Where flock does not exist (Windows) the folder is not locked.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from vaelab.errors import RunError

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None

LOCK = ".lock"
TEMPORARY_SUFFIXES = (".tmp", ".part")  # what files.atomic_write leaves when killed mid-write


@contextlib.contextmanager
def hold_folder(folder: str | Path) -> Iterator[Path]:
    """Hold `folder`'s lock (creating the folder) for the duration of the block.

    RunError at once if another process holds it. Temporary files of writes that a
    killed process left half done are removed: with the lock held, nobody else can be
    writing them.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / LOCK, "a+")
    except OSError as e:
        raise RunError(f"cannot use {folder} as a run folder ({e.strerror or e})") from None
    try:
        _lock(handle, folder)
        remove_stale_temporaries(folder)
        yield folder
    finally:
        handle.close()  # releases the lock


def _lock(handle, folder: Path) -> None:
    if fcntl is None:
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        raise RunError(f"{folder} is in use by another vaelab process (pid {holder}); "
                       f"wait for it to finish or train into another folder") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the hidden temporary files (.NAME.XXXX.tmp) that interrupted writes left in `folder`."""
    stale = [p for p in folder.glob(".*") if p.is_file() and p.name.endswith(TEMPORARY_SUFFIXES)]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
