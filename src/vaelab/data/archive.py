"""Extracting a downloaded tar archive, safely and all or nothing.

Safety: the standard library's "data" extraction filter (Python >= 3.11.4) refuses
members that would land outside the target folder ("..", links pointing outside or to
absolute paths), device files and the like, and drops permission bits such as setuid.
It would extract a member with an absolute path below the target folder; we refuse
those too, as no archive we fetch has one. A refused member is a DataError naming it.

All or nothing: the archive is extracted into a fresh temporary folder inside `root`
and only its expected top folder is renamed into place (atomic on one file system). A
failure part-way leaves nothing that a later run would take for the extracted data.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

from vaelab.errors import DataError


def extract_tar(archive: Path, root: Path, top: str) -> Path:
    """Extract `archive` (tar, any compression) and move its folder `top` to root/top; returns that path.

    Other members of the archive are extracted (checked the same way) and then discarded.
    """
    target = root / top
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{top}.", suffix=".part"))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter=_refuse_unsafe)
        if not (tmp / top).is_dir():
            raise DataError(f"{archive} holds no folder {top}/: it is not the expected archive; "
                            f"delete it and run again.")
        try:
            os.replace(tmp / top, target)
        except OSError:
            # Another process may have extracted it meanwhile; theirs is as good as ours.
            if not target.is_dir():
                raise
    except tarfile.FilterError as e:  # before TarError: it is a subclass
        raise DataError(f"{archive}: refusing to extract member {e.tarinfo.name!r} ({e}); the archive is "
                        f"not the expected one, delete it and run again.") from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:  # BadGzipFile: before OSError
        raise DataError(f"{archive}: cannot extract it, the archive is corrupt ({e}); "
                        f"delete it and run again.") from None
    except OSError as e:  # disk full, permissions, ...
        raise DataError(f"cannot extract {archive} into {root} ({e}).") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _refuse_unsafe(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """The "data" filter, plus: a member with an absolute path is refused, not made relative."""
    if member.name.startswith("/") or os.path.isabs(member.name):
        raise tarfile.AbsolutePathError(member)
    return tarfile.data_filter(member, dest)
