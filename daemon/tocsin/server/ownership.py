"""One daemon per home, and a socket file removed only by the daemon that bound it.

The home lock is an flock on `<home>/daemon.lock`, held for the daemon's life. The kernel drops
it when its holder exits, however it exits, so a lock left by a crash is never stale. The file
also says who holds it (pid, socket, running or stopping): a second daemon can name the first,
and a daemon started while the previous one is still stopping (`systemctl restart`,
`kill; tocsin daemon`) waits for it instead of refusing.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import HomeInUse

log = logging.getLogger("tocsin.daemon")

LOCK_NAME = "daemon.lock"
#: How long a new daemon waits for one that says it is stopping (a stop commits what it
#: accepted and waits for its components; systemd gives it TimeoutStopSec=30 in our units).
STOP_WAIT = 30.0
#: How long a holder that still says "running" is given to say "stopping": a SIGTERM sent
#: just before we looked (`kill -TERM $pid; tocsin daemon`) takes a moment to be handled.
SETTLE = 1.0
POLL = 0.02


@dataclass(frozen=True)
class Holder:
    """What the lock file says about the daemon holding it."""

    pid: str
    socket: str
    state: str

    @property
    def stopping(self) -> bool:
        return self.state == "stopping"


def read_holder(fd: int) -> Holder:
    """The holder as last written (fields may be '?' while it is still writing them)."""
    text = os.pread(fd, 4096, 0).decode(errors="replace")
    pid, socket, state = ([*text.split("\n"), "?", "?", "?"])[:3]
    return Holder(pid or "?", socket or "?", state or "?")


class HomeLock:
    """The flock that makes a daemon the one owner of its home."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / LOCK_NAME
        self._fd: int | None = None
        self._socket = ""

    def acquire(self, socket: Path, *, stop_wait: float = STOP_WAIT, settle: float = SETTLE,
                clock: Callable[[], float] = time.monotonic,
                sleep: Callable[[float], None] = time.sleep) -> None:
        """Take the lock, waiting for a stopping holder up to `stop_wait`; HomeInUse if a
        running one keeps it (after `settle`) or a stopping one outlasts the wait."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        start = clock()
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = read_holder(fd)
                waited = clock() - start
                if waited >= (stop_wait if holder.stopping else settle):
                    os.close(fd)
                    raise HomeInUse(str(self.home), holder.pid, holder.socket,
                                    waited if holder.stopping else None) from None
                if holder.stopping and not said:
                    log.info("waiting (up to %.0fs) for the daemon pid %s, which is stopping, "
                             "to leave the home %s", stop_wait, holder.pid, self.home)
                    said = True
                sleep(POLL)
        self._fd = fd
        self._socket = str(socket)
        self.mark("running")

    def mark(self, state: str) -> None:
        """Say what this daemon is doing; a newcomer waits for one that is `stopping`."""
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n{self._socket}\n{state}\n".encode(), 0)

    def release(self) -> None:
        """Let the next daemon in: the last thing a stopping daemon does."""
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None


Identity = tuple[int, int, int]


def identity(path: Path) -> Identity | None:
    """The device, inode and change time of the file at `path` itself (not what a symlink
    points to). The change time tells apart a new file that reuses a freed inode number."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_ctime_ns)


def remove_if_ours(path: Path, ours: Identity | None) -> bool:
    """Unlink the socket file only if it is still the one we bound: after a restart race
    the file at `path` may be the next daemon's, and removing it would make that one
    unreachable."""
    if ours is None or identity(path) != ours:
        return False
    path.unlink(missing_ok=True)
    return True
