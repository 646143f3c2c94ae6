"""Where each watched file was read up to, stored in the event store's own SQLite file.

Every checkpoint write rides in the same transaction as the events its lines produced
(`Daemon.ingest(..., extra=...)`), so after a crash both are there or neither is: lines are
re-read, never lost and never doubled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS tail_checkpoints (
    source TEXT NOT NULL,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    path TEXT NOT NULL,
    head BLOB,
    offset INTEGER NOT NULL,
    marker BLOB NOT NULL,
    lineno INTEGER NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (source, dev, ino)
);
CREATE TABLE IF NOT EXISTS tail_sources (
    source TEXT PRIMARY KEY,
    first_started REAL NOT NULL
);
"""

UPSERT = (
    "INSERT INTO tail_checkpoints (source, dev, ino, path, head, offset, marker, lineno, updated) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (source, dev, ino) DO UPDATE SET "
    "path = excluded.path, head = excluded.head, offset = excluded.offset, "
    "marker = excluded.marker, lineno = excluded.lineno, updated = excluded.updated"
)
DELETE = "DELETE FROM tail_checkpoints WHERE source = ? AND dev = ? AND ino = ?"
SELECT = ("SELECT dev, ino, path, head, offset, marker, lineno FROM tail_checkpoints "
          "WHERE source = ?")
SOURCE_SEEN = "SELECT 1 FROM tail_sources WHERE source = ?"
MARK_SOURCE = "INSERT OR IGNORE INTO tail_sources (source, first_started) VALUES (?, ?)"


@dataclass
class Checkpoint:
    dev: int
    ino: int
    path: str
    head: bytes | None
    offset: int
    marker: bytes
    lineno: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.dev, self.ino)

    def upsert(self, source: str) -> tuple[str, list[list[Any]]]:
        return (UPSERT, [[source, self.dev, self.ino, self.path, self.head, self.offset,
                          self.marker, self.lineno, time.time()]])


def from_row(row: Any) -> Checkpoint | None:
    """A stored row, or None when it is unusable (it is then ignored: the file is re-read)."""
    dev, ino, path, head, offset, marker, lineno = row
    if not isinstance(offset, int) or offset < 0 or not isinstance(marker, bytes):
        return None
    if head is not None and not isinstance(head, bytes):
        return None
    return Checkpoint(dev, ino, path, head, offset, marker, int(lineno or 0))
