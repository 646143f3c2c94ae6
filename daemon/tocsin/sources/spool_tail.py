"""The daemon's side of the spool: tail it like any JSONL source, and empty it once read.

Emitters append under an exclusive flock (spool.py); emptying takes the same lock without
waiting, checks that everything in the file is committed, truncates it and commits the reset
offset, so no emitter's line can fall between the check and the truncate.
"""

from __future__ import annotations

import fcntl
import os

from . import checkpoints as cps
from .tailer import TailSource


class SpoolTail(TailSource):
    async def poll(self) -> bool:
        more = await super().poll()
        if not more:
            await self._empty_if_read()
        return more

    async def _empty_if_read(self) -> None:
        files = [tf for tf in self.files.values() if tf.path == self.spec.path]
        if len(files) != 1 or files[0].offset == 0:
            return
        tf = files[0]
        try:
            fcntl.flock(tf.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # an emitter is writing: next time
        try:
            if os.fstat(tf.fd).st_size != tf.offset or not _truncate(tf.path, tf.key):
                return
            reset = cps.Checkpoint(tf.dev, tf.ino, tf.path, None, 0, b"", 0)
            await self._commit([], [reset.upsert(self.spec.name)])()
            tf.place(0, 0, b"", None, committed=True)
        finally:
            fcntl.flock(tf.fd, fcntl.LOCK_UN)


def _truncate(path: str, key: tuple[int, int]) -> bool:
    """Empty `path` if it is still the file (dev, ino) we read."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != key:
            return False
        os.ftruncate(fd, 0)
        return True
    finally:
        os.close(fd)
