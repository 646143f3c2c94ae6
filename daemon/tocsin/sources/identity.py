"""Telling files apart (log-watching.md §7 rule 2): device and inode, a fingerprint of the
first line, and the bytes just before the committed offset.

The inode alone is reused almost every time on ext4; the first line alone collides on
headers; the three together catch rotation, replacement and truncation.
"""

from __future__ import annotations

import hashlib
import os
import stat

HEAD_BYTES = 1024
MARKER_BYTES = 64
COUNT_CHUNK = 4 * 1024 * 1024


def head_of(fd: int) -> bytes | None:
    """Hash of the first line (or first KiB if that line is longer); None until it is known."""
    data = os.pread(fd, HEAD_BYTES, 0)
    nl = data.find(b"\n")
    if nl >= 0:
        return hashlib.sha1(data[:nl + 1]).digest()
    if len(data) == HEAD_BYTES:
        return hashlib.sha1(data).digest()
    return None


def marker_at(fd: int, offset: int) -> bytes:
    """The bytes just before `offset` that must still be there for the offset to be valid."""
    start = max(0, offset - MARKER_BYTES)
    return os.pread(fd, offset - start, start)


def end_of_last_line(fd: int, size: int) -> tuple[int, int]:
    """(offset just past the last newline, complete lines): where `start = "end"` begins."""
    lines = 0
    last_nl = -1
    pos = 0
    while pos < size:
        chunk = os.pread(fd, min(COUNT_CHUNK, size - pos), pos)
        if not chunk:
            break
        lines += chunk.count(b"\n")
        nl = chunk.rfind(b"\n")
        if nl >= 0:
            last_nl = pos + nl
        pos += len(chunk)
    return last_nl + 1, lines


def find_copy(directory: str, head: bytes, offset: int, marker: bytes,
              skip: tuple[int, int], limit: int = 200) -> str | None:
    """A sibling that holds our file's old content (the copy copytruncate made): same head,
    longer than our offset, and the same bytes before it. Used to recover an unread tail."""
    try:
        entries = list(os.scandir(directory))[:limit]
    except OSError:
        return None
    for entry in entries:
        try:
            st = entry.stat()
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) == skip:
                continue
            if st.st_size <= offset:
                continue
            fd = os.open(entry.path, os.O_RDONLY)
        except OSError:
            continue
        try:
            if head_of(fd) == head and marker_at(fd, offset) == marker:
                return entry.path
        finally:
            os.close(fd)
    return None


def find_inode(directory: str, key: tuple[int, int], limit: int = 1000) -> str | None:
    """The path in `directory` that is the file (dev, ino), if any (a file renamed while we
    were down)."""
    try:
        entries = list(os.scandir(directory))[:limit]
    except OSError:
        return None
    for entry in entries:
        try:
            st = entry.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == key and stat.S_ISREG(st.st_mode):
            return entry.path
    return None
