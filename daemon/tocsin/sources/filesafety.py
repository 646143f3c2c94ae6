"""Whether a watched file is safe to read on its owner's behalf.

The daemon reads files as its user and stores what it reads, so a file someone else can put
in a watched folder must not make it read what they could not (`ln -s /etc/shadow
/srv/drop/evil.jsonl`). The rules are sshd's StrictModes and logrotate's:

- a path that goes through a symlink below the watched tree's root is followed only when
  its target stays inside the tree and both the link and the target are owned by the
  daemon's user or root (`follow_symlinks = true` in the `[[watch]]` table opts out);
- in a world-writable folder, a file (or link) is read only when owned by the daemon's user
  or root — always, whatever `follow_symlinks` says.
"""

from __future__ import annotations

import glob
import os
import stat

from ..events.model import Event

REFUSED_EVENT = "tocsin.source.file-refused"


def tree_root(pattern: str) -> str:
    """The folder a path or glob is under: everything before its first glob part (for a
    plain file, its folder)."""
    parts = pattern.split(os.sep)
    first_glob = next((i for i, p in enumerate(parts) if glob.has_magic(p)), len(parts) - 1)
    return os.sep.join(parts[:first_glob]) or os.sep


def refusal(path: str, root: str, *, follow_symlinks: bool = False,
            uid: int | None = None) -> str | None:
    """Why `path` (under `root`) must not be read, or None when it may be. The reason names
    owners and paths, never anything read from the file."""
    trusted = {os.geteuid() if uid is None else uid, 0}
    try:
        link = os.lstat(path)
        target = os.stat(path)
    except OSError:
        return None  # gone, or a dangling link: there is nothing to read
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    if _world_writable(os.path.dirname(path)) and link.st_uid not in trusted:
        return (f"it is owned by uid {link.st_uid} in the world-writable folder "
                f"{os.path.dirname(path)}")
    if _world_writable(os.path.dirname(real)) and target.st_uid not in trusted:
        return (f"its file {real} is owned by uid {target.st_uid} in a world-writable folder")
    through_link = real != os.path.join(real_root, os.path.relpath(path, root))
    if not through_link or follow_symlinks:
        return None
    if not real.startswith(real_root.rstrip(os.sep) + os.sep):
        return (f"it is a symlink to {real}, outside the watched tree {root} "
                "(set follow_symlinks = true to read it anyway)")
    if link.st_uid not in trusted or target.st_uid not in trusted:
        return (f"it is a symlink owned by uid {link.st_uid} to a file owned by uid "
                f"{target.st_uid}; only this user's or root's are followed "
                "(set follow_symlinks = true to read it anyway)")
    return None


def refused_event(source: str, path: str, reason: str) -> Event:
    """The event that records a refused file: where and why, and nothing read from it."""
    return Event(event=REFUSED_EVENT,
                 resource={"prefect.resource.id": f"tocsin.source.{source}",
                           "prefect.resource.name": source},
                 payload={"path": path, "reason": reason})


def _world_writable(folder: str) -> bool:
    try:
        return bool(os.stat(folder).st_mode & stat.S_IWOTH)
    except OSError:
        return False
