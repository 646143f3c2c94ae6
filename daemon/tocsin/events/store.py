"""The event store: SQLite in WAL mode, with group commit.

Writers hand a batch to `append` and wait; the writer thread (writer.py) commits everything
queued in one transaction and acknowledges every caller only after that commit (DESIGN rule
2). Reads use a second connection through aiosqlite, so a long query never waits behind a
write, and WAL checkpoints a third.

The WAL stays bounded (issue 13): a PASSIVE checkpoint alone never catches up with sustained
ingest (new frames arrive while it copies, so the log never starts over and grows without
end). So past half its limit the writer thread itself truncates it between two commits
(writer.py), waiting a moment for readers to leave old snapshots; `journal_size_limit`
bounds what SQLite leaves behind otherwise. Every read is one short statement, so none pins
a snapshot for long.

Events are found by resource through an index the writer keeps up in bulk, behind the
inserts (resource_index.py): a per-insert one made ingest 3x slower at 5M stored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec

from ..errors import RowsRefused, StoreCorrupt, StoreError, StoreFull
from . import resource_index
from .filter import EventFilter, us
from .model import Event, utcnow
from .writer import GroupWriter, Statements, Write, file_size

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS event_names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS event_resources (
    id INTEGER PRIMARY KEY,
    resource_id TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    occurred INTEGER NOT NULL,
    received INTEGER NOT NULL,
    name INTEGER NOT NULL,      -- event_names.id
    resource INTEGER NOT NULL,  -- event_resources.id (the primary resource's id)
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_occurred ON events (occurred);
CREATE INDEX IF NOT EXISTS events_name_occurred ON events (name, occurred);
""" + resource_index.SCHEMA

# The first schema kept the name and resource id as text in `events` and indexed the text;
# a database made by it is converted once, at open, keeping every seq.
_UPGRADE_FROM_TEXT_COLUMNS = """
DROP INDEX IF EXISTS events_occurred;
DROP INDEX IF EXISTS events_event_occurred;
DROP INDEX IF EXISTS events_resource_occurred;
ALTER TABLE events RENAME TO events_text_columns;
""" + SCHEMA + """
INSERT OR IGNORE INTO event_names (name) SELECT DISTINCT event FROM events_text_columns;
INSERT OR IGNORE INTO event_resources (resource_id)
    SELECT DISTINCT resource_id FROM events_text_columns;
INSERT INTO events (seq, id, occurred, received, name, resource, data)
    SELECT old.seq, old.id, old.occurred, old.received, n.id, r.id, old.data
    FROM events_text_columns AS old
    JOIN event_names AS n ON n.name = old.event
    JOIN event_resources AS r ON r.resource_id = old.resource_id;
DROP TABLE events_text_columns;
"""

# Retention: names and resource ids no event uses any more (the writer first brings the
# resource index up to date: a write that `forgets_refs`).
FORGET_UNUSED_REFS: Statements = [
    ("DELETE FROM event_names WHERE NOT EXISTS "
     "(SELECT 1 FROM events WHERE events.name = event_names.id)", [()]),
    (resource_index.FORGET_UNUSED, [()]),
]

#: SQLite errors that are the store's state, not the rows': the write may work later.
_STORE_FAULTS = ("SQLITE_IOERR", "SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_READONLY",
                 "SQLITE_CANTOPEN", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_PROTOCOL")

SQLITE_HEADER = b"SQLite format 3\0"

PRUNE_CHUNK = 5_000
#: Seconds between PASSIVE checkpoints (on their own connection and thread, beside the
#: writer). Frequent ones leave little for the writer's WAL truncation to copy while every
#: commit waits: at 1 s, truncations every ~2 s held commits 50-110 ms and made the action
#: p99 at half the worker's throughput 200-350 ms (issue 13, tests/bench/scale.py actions).
CHECKPOINT_EVERY = 0.2
DEFAULT_WAL_LIMIT = 64 * 1024 * 1024

# The pages inserts land on need to stay hot: the name index's (one leaf per busy name) and
# the resource index's, whose catch-ups touch a leaf per resource (10,000 resources: ~10,000
# leaves). With a per-insert resource index, 16 MB of cache made the rate at 1M stored ~20x
# lower than empty (5.3k/s against 117k/s) and 128 MB held 29k/s (issue 13,
# tests/bench/scale.py). A maximum, taken only as pages are used, and given back after a
# burst (writer.py).
WRITER_CACHE_KIB = 128_000

_decoder = msgspec.json.Decoder(Event)


def decode_row(data: bytes) -> Event:
    return _decoder.decode(data)


async def _connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    await conn.execute("PRAGMA busy_timeout=10000")
    return conn


def _open_writer(path: Path, schema: str, wal_limit: int) -> sqlite3.Connection:
    """The writing connection, schema applied. Checkpoints copy the WAL into the database
    file; done by the writer on commit they stall ingestion, so the writer never does them
    and a third connection does, in its own thread, once a second while there are new
    commits."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000",
                   "wal_autocheckpoint=0", f"cache_size=-{WRITER_CACHE_KIB}",
                   f"journal_size_limit={wal_limit}"):
        conn.execute(f"PRAGMA {pragma}")
    columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
    if "event" in columns:
        log.info("converting %s to the current events schema (once)", path)
        conn.executescript(f"BEGIN IMMEDIATE; {_UPGRADE_FROM_TEXT_COLUMNS} COMMIT;")
    conn.executescript(schema)
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?",
                    (resource_index.OLD_INDEX,)).fetchone():
        log.info("moving %s to the bulk-kept resource index (once)", path)
    conn.execute("BEGIN IMMEDIATE")
    try:
        resource_index.migrate(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return conn


class EventStore:
    """Append, fetch and query events; `open()` before use, `close()` commits what was queued."""

    def __init__(self, path: Path, *, retention: timedelta = timedelta(days=7),
                 wal_limit: int = DEFAULT_WAL_LIMIT) -> None:
        self.path = Path(path)
        self.retention = retention
        self.wal_limit = wal_limit
        self.wal_path = Path(f"{self.path}-wal")
        self._writer: GroupWriter | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._checkpointer: sqlite3.Connection | None = None
        #: held by whoever checkpoints (this store's thread, the writer) or closes the
        #: checkpointing connection: a connection closed under a running call crashes
        self._checkpoint_lock = threading.Lock()
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._commits = 0
        self._file: int | None = None
        self._identity = (0, 0)
        #: Why the store takes no more writes (the database file went away), or None.
        self.problem: str | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self, extra_schema: Iterable[str] = ()) -> None:
        """Open (or create) the database; StoreCorrupt if the file is not one SQLite reads."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._write_conn = await asyncio.to_thread(
                _open_writer, self.path, SCHEMA + "".join(extra_schema), self.wal_limit)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            raise StoreCorrupt(
                f"the database {self.path} cannot be read ({exc}). Move it aside "
                f"(mv {self.path} {self.path}.broken; also its -wal and -shm files) and start "
                "again, which makes a new empty one, or put a backup in its place; "
                f"`sqlite3 {self.path}.broken .recover` may save the events in it") from None
        self._file = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        st = os.fstat(self._file)
        self._identity = (st.st_dev, st.st_ino)
        self._writer = GroupWriter(self._write_conn, self._count_commit, self._check_file,
                                   wal_path=self.wal_path, wal_limit=self.wal_limit,
                                   checkpoint_lock=self._checkpoint_lock)
        self._writer.start()
        self._reader = await _connect(self.path)
        self._checkpointer = await asyncio.to_thread(
            sqlite3.connect, self.path, isolation_level=None, check_same_thread=False)
        self._checkpoint_task = asyncio.create_task(self._checkpoint_loop(), name="checkpoint")

    async def close(self) -> None:
        """Commit everything already queued, then close the connections."""
        if self._writer is not None:
            await self._writer.stop()
            self._writer = None
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            self._checkpoint_task = None
        if self._reader is not None:
            await self._reader.close()
        if self._checkpointer is not None:
            await asyncio.to_thread(self._locked, self._checkpointer.close)
        if self._write_conn is not None:
            self._write_conn.close()  # the last one to close checkpoints the WAL fully
        self._reader = self._checkpointer = self._write_conn = None
        if self._file is not None:
            os.close(self._file)
            self._file = None

    def _check_file(self) -> None:
        """Before each commit (on the writer thread): is the file at `path` still the
        database we opened, and still a database? A file deleted, replaced or overwritten
        under the daemon would take every write acknowledged from then on with it, so the
        store stops taking writes, for good, and says why (the log, `tocsin status`)."""
        if self.problem is None:
            self.problem = self._file_problem()
            if self.problem is not None:
                log.error("%s", self.problem)
        if self.problem is not None:
            raise StoreError(self.problem)

    def _file_problem(self) -> str | None:
        restart = ("no event is accepted from now on (none would survive a restart); "
                   "restart the daemon to open the database now at that path")
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return f"the database {self.path} was deleted under the running daemon; {restart}"
        if (st.st_dev, st.st_ino) != self._identity:
            return (f"the database {self.path} was replaced by another file under the running "
                    f"daemon; {restart}")
        assert self._file is not None
        if os.pread(self._file, len(SQLITE_HEADER), 0) not in (SQLITE_HEADER, b""):
            return (f"the database {self.path} was overwritten with something that is not a "
                    f"SQLite database under the running daemon; {restart}")
        return None

    def _count_commit(self) -> None:
        self._commits += 1

    async def _checkpoint_loop(self) -> None:
        assert self._checkpointer is not None
        seen = 0
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY)
            # past half its limit the writer truncates the WAL: no checkpoint of ours in its way
            if self._commits != seen and file_size(self.wal_path) <= self.wal_limit // 2:
                seen = self._commits
                try:
                    await asyncio.to_thread(self._locked, self._checkpointer.execute,
                                            "PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed (will retry): %s", exc)

    def _locked(self, call: Any, *args: Any) -> Any:
        with self._checkpoint_lock:
            return call(*args)

    # -- writing ---------------------------------------------------------------------------
    async def append(self, events: list[Event], *, extra: Statements | None = None,
                     now: datetime | None = None) -> list[Event]:
        """Store events (stamping `received`); returns the ones that were new, after commit.

        An event whose id is already stored is skipped (Prefect dedupes by id).
        """
        return await self.submit(self.prepare(events, extra=extra, now=now))

    def prepare(self, events: list[Event], *, extra: Statements | None = None,
                now: datetime | None = None) -> Write:
        """`append`'s first half: stamp `received` and build the rows, for a caller that
        wants that done while an earlier write of its own is still committing. `received`
        is the daemon's: one a client sent is replaced (retention goes by it)."""
        received = now or utcnow()
        for event in events:
            event.received = received
        return Write.of(events, extra)

    async def submit(self, write: Write) -> list[Event]:
        """Queue a prepared write and wait for the commit that holds it; a failure is raised
        as the StoreError that says what went wrong (disk full, the store unusable, or rows
        of this write that cannot be stored)."""
        if self._writer is None:
            raise StoreError("the event store is closed")
        if self.problem is not None:
            raise StoreError(self.problem)
        try:
            return await self._writer.submit(write)
        except StoreError:
            raise
        except Exception as exc:
            raise self.fault(exc) from exc

    def fault(self, exc: Exception) -> StoreError:
        """A write's exception as the StoreError a person can act on."""
        name = getattr(exc, "sqlite_errorname", "")
        if name == "SQLITE_FULL":
            free = shutil.disk_usage(self.path.parent).free
            return StoreFull(f"the disk holding {self.path} is full ({free} bytes free); "
                             "events are not stored until space is freed (reads still work)")
        if name.startswith(_STORE_FAULTS):
            return StoreError(f"the event store {self.path} cannot be written ({name}: {exc}); "
                              "see the daemon's log")
        return RowsRefused(f"the event store refused these events: {type(exc).__name__}: {exc}")

    async def run(self, statements: Statements) -> None:
        """Commit statements with no events, in order with event writes."""
        await self.submit(Write([], [], statements))

    # -- reading ---------------------------------------------------------------------------
    async def get(self, event_id: str) -> Event | None:
        assert self._reader is not None
        async with self._reader.execute("SELECT data FROM events WHERE id = ?", (event_id,)) as cur:
            row = await cur.fetchone()
        return decode_row(row[0]) if row else None

    async def query(self, f: EventFilter) -> tuple[list[Event], str | None]:
        """Events matching the filter, one page, and the token of the next page (or None).

        SQL answers what it can; when part of the filter is Python-only, rows are read in
        chunks, each continuing after the last row seen, until the page is full.
        """
        assert self._reader is not None
        compiled = f.compile()
        direction, op = ("DESC", "<") if f.order == "newest" else ("ASC", ">")
        chunk = max(500, f.limit * 4) if compiled.needs_python else f.limit + 1
        after = _parse_token(f.page_token) if f.page_token else None
        found: list[Event] = []
        while True:
            where, params = compiled.where, list(compiled.params)
            if after is not None:
                where += f" AND (occurred, seq) {op} (?, ?)"
                params += after
            sql = (f"SELECT seq, occurred, data FROM events WHERE {where} "
                   f"ORDER BY occurred {direction}, seq {direction} LIMIT ?")
            async with self._reader.execute(sql, [*params, chunk]) as cur:
                rows = await cur.fetchall()
            for seq, occurred, data in rows:
                event = decode_row(data)
                if compiled.needs_python and not compiled(event):
                    after = (occurred, seq)
                    continue
                if len(found) == f.limit:
                    assert after is not None
                    return found, f"{after[0]}:{after[1]}"
                found.append(event)
                after = (occurred, seq)
            if len(rows) < chunk:
                return found, None

    async def count(self) -> int:
        assert self._reader is not None
        async with self._reader.execute("SELECT count(*) FROM events") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def read_sql(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Read-only queries for other parts of the daemon (trigger state, outbox, ...)."""
        assert self._reader is not None
        async with self._reader.execute(sql, params) as cur:
            return list(await cur.fetchall())

    # -- retention -------------------------------------------------------------------------
    async def prune(self, now: datetime | None = None) -> int:
        """Delete events received longer than the retention ago, in small transactions
        between writes. The daemon stamps `received` as it stores, so it grows with `seq`:
        the walk goes in seq order and ends after the first chunk that reaches events inside
        the retention (an event's own `occurred`, which a client chose, plays no part)."""
        cutoff = us((now or utcnow()) - self.retention)
        total, after = 0, 0
        while True:
            rows = await self.read_sql(
                "SELECT seq, received FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, PRUNE_CHUNK))
            old = [(seq,) for seq, received in rows if received < cutoff]
            if old:
                await self.run([("DELETE FROM events WHERE seq = ?", old)])
                total += len(old)
            if len(rows) < PRUNE_CHUNK or rows[-1][1] >= cutoff:
                break
            after = rows[-1][0]
            await asyncio.sleep(0)
        if total:
            await self.submit(Write([], [], list(FORGET_UNUSED_REFS), forgets_refs=True))
        return total


def _parse_token(token: str) -> tuple[int, int]:
    try:
        occurred, seq = token.split(":")
        return int(occurred), int(seq)
    except ValueError:
        from ..errors import InvalidInput

        raise InvalidInput([("page_token", "is not a token this daemon handed out")]) from None
