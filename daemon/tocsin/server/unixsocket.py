"""The daemon's Unix socket, made the safe way (supervisor's recipe).

Bind to a temporary name, set mode and group, then rename into place, so the socket is never
reachable with the wrong mode. An existing path is probed first: an answer means another
daemon owns it (refuse), a refusal means it is stale (remove it).
"""

from __future__ import annotations

import grp
import os
import socket
from pathlib import Path

from ..errors import DaemonAlreadyRunning, TocsinError

MAX_PATH = 107  # sun_path is 108 bytes with the terminating NUL
LISTEN_BACKLOG = 512


def is_answering(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:
            return False
    return True


def bind_socket(path: Path, mode: int = 0o600, group: str | None = None) -> socket.socket:
    """A listening socket at `path`, or DaemonAlreadyRunning if one answers there already."""
    if len(os.fsencode(path)) > MAX_PATH:
        raise TocsinError(
            f"socket path {path} is {len(os.fsencode(path))} bytes; Linux allows {MAX_PATH}. "
            "Choose a shorter --socket."
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise TocsinError(f"cannot create the socket's folder {path.parent}: "
                          f"{exc.strerror or exc}") from None
    if path.exists() or path.is_symlink():
        if is_answering(path):
            raise DaemonAlreadyRunning(str(path))
        path.unlink()
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    if tmp.exists():
        tmp.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(tmp))
        os.chmod(tmp, mode)
        if group is not None:
            try:
                gid = grp.getgrnam(group).gr_gid
            except KeyError:
                raise TocsinError(f"socket_group {group!r} is not a group on this machine") from None
            os.chown(tmp, -1, gid)
        sock.listen(LISTEN_BACKLOG)
        os.rename(tmp, path)
    except BaseException:
        sock.close()
        tmp.unlink(missing_ok=True)
        raise
    sock.setblocking(False)
    return sock
