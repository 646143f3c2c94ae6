"""Private by default: the home and its folders 0700, every file in it 0600.

The daemon's umask makes everything it creates private (the database, its WAL and SHM, the
spool, checkpoints, run logs); a home made by an older version or by hand is tightened at
start. Sharing is opt-in and only for the socket (`socket_mode`, `socket_group`), which is
not a regular file and so is left alone here.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def set_private_umask() -> int:
    """Make every file and folder the process creates private (jobs' subprocesses inherit
    it: their run logs and results live in the home too); returns the old umask."""
    return os.umask(PRIVATE_UMASK)


def tighten(home: Path) -> list[str]:
    """Take group and other permissions off the home, its folders and its regular files;
    returns the paths changed. Symlinks and sockets are not followed or touched."""
    changed: list[str] = []
    if _tighten_one(home, DIR_MODE):
        changed.append(str(home))
    for root, dirs, files in os.walk(home):
        for name in dirs:
            path = os.path.join(root, name)
            if _tighten_one(Path(path), DIR_MODE):
                changed.append(path)
        for name in files:
            path = os.path.join(root, name)
            if _tighten_one(Path(path), FILE_MODE):
                changed.append(path)
    return changed


def _tighten_one(path: Path, mode: int) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    wanted_kind = stat.S_ISDIR if mode == DIR_MODE else stat.S_ISREG
    if not wanted_kind(st.st_mode) or not stat.S_IMODE(st.st_mode) & 0o077:
        return False
    os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077)  # not a symlink: lstat said so
    return True
