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
from vaelab.run_files import refuse_links

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None

LOCK = ".lock"
try:
    NO_FOLLOW = os.O_NOFOLLOW  # opening the lock file never follows a link planted in its place
except AttributeError:  # not POSIX: refuse_links alone keeps the lock file in the folder
    NO_FOLLOW = 0
TEMPORARY_SUFFIXES = (".tmp", ".part")  # what files.atomic_write leaves when killed mid-write


@contextlib.contextmanager
def hold_folder(folder: str | Path, owned: tuple[str, ...] = ()) -> Iterator[Path]:
    """Hold `folder`'s lock (creating the folder) for the duration of the block.

    RunError at once if another process holds it, or if an entry of the folder is a
    symbolic link: a writer appends to and replaces its files by name, and must not follow
    a link out of the folder (a folder someone handed you may carry them). Temporary files
    that a killed writer left of the files named in `owned` are removed: with the lock
    held, nobody else can be writing those (other files' temporaries may belong to a
    reader's own writes, such as `vaelab evaluate` writing evaluation.json, which takes no lock).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        refuse_links(folder)
        handle = os.fdopen(os.open(folder / LOCK, os.O_RDWR | os.O_CREAT | NO_FOLLOW, 0o666), "r+")
    except OSError as e:
        raise RunError(f"cannot use {folder} as a run folder ({e.strerror or e})") from None
    try:
        _lock(handle, folder)
        remove_stale_temporaries(folder, owned)
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
    except OSError as e:  # a file system without locks (some network mounts)
        raise RunError(f"cannot lock {folder / LOCK} ({e.strerror or e}); train into a folder on a local disk") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()


def remove_stale_temporaries(folder: Path, owned: tuple[str, ...]) -> None:
    """Delete the hidden temporaries (.NAME.XXXX.tmp, files.atomic_write's) of the files named
    in `owned` that interrupted writes left in `folder`."""
    for path in folder.glob(".*"):
        name = path.name[1:].rsplit(".", 2)[0]  # .checkpoint.safetensors.k3j9.tmp -> checkpoint.safetensors
        if name in owned and path.name.endswith(TEMPORARY_SUFFIXES) and path.is_file():
            path.unlink(missing_ok=True)
