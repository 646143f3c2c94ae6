"""The spool: where `tocsin emit` and `emit_event` put events when the daemon does not answer.

Standard library only (emitters import it). One JSON event a line, appended under an flock
so concurrent emitters never interleave; the daemon tails it like any watched JSONL file,
and since each line carries its event id and the store dedupes by id, nothing is lost or
doubled.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from ..paths import default_home

# In a folder of its own: the tailer watches the spool's folder, and the home folder itself
# changes with every database write.
SPOOL_NAME = os.path.join("spool", "spool.jsonl")


def spool_path() -> Path:
    return default_home() / SPOOL_NAME


def spool_events(events: list[dict[str, Any]]) -> Path:
    """Append events (each already carrying its id) to the spool; returns its path."""
    path = spool_path()
    for folder in (path.parent.parent, path.parent):  # the home, then spool/: both private
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = "".join(json.dumps(e, default=str, separators=(",", ":")) + "\n"
                   for e in events).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and _last_byte(path, size) != b"\n":
            data = b"\n" + data  # an emitter died mid-line: never glue our line onto it
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    return path


def _last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1)
