"""Private by default: the home and its folders 0700, every file in it 0600.

The daemon's umask makes everything it creates private (the database, its WAL and SHM, the
spool, checkpoints, run logs); a home made by an older version or by hand is tightened at
start. Sharing is opt-in and only for the socket (`socket_mode`, `socket_group`), which is
not a regular file and so is left alone here; a socket shared from inside the home makes the
home 0710 (the group may pass through it, not look inside).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
SHARED_HOME_MODE = 0o710
FILE_MODE = 0o600


def set_private_umask() -> int:
    """Make every file and folder the process creates private (jobs' subprocesses inherit
    it: their run logs and results live in the home too); returns the old umask."""
    return os.umask(PRIVATE_UMASK)


def home_mode(socket: Path, home: Path, socket_group: str | None) -> int:
    """0700; 0710 when a group shares a socket that lives in the home itself, so that the
    group can pass through to the socket without listing or reading anything else."""
    return SHARED_HOME_MODE if socket_group and socket.parent == home else DIR_MODE


def tighten(home: Path, mode: int = DIR_MODE) -> list[str]:
    """Give the home `mode`, and take group and other permissions off its folders and
    regular files; returns the paths changed. Symlinks and sockets are left alone."""
    changed: list[str] = []
    if _set_shared_bits(home, mode & 0o077, stat.S_ISDIR):
        changed.append(str(home))
    for root, dirs, files in os.walk(home):
        for name in dirs:
            path = os.path.join(root, name)
            if _set_shared_bits(Path(path), 0, stat.S_ISDIR):
                changed.append(path)
        for name in files:
            path = os.path.join(root, name)
            if _set_shared_bits(Path(path), 0, stat.S_ISREG):
                changed.append(path)
    return changed


def _set_shared_bits(path: Path, bits: int, kind: Callable[[int], bool]) -> bool:
    """Make the group and other bits of `path` exactly `bits` (the owner's are kept)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    mode = stat.S_IMODE(st.st_mode)
    if not kind(st.st_mode) or mode & 0o077 == bits:
        return False
    os.chmod(path, (mode & ~0o077) | bits)  # not a symlink: lstat said so
    return True
