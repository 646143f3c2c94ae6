"""The event store: SQLite in WAL mode through aiosqlite, with group commit.

Writers hand a batch to `append` and wait; one writer task takes everything queued, writes
it in a single transaction and acknowledges every caller only after that commit (DESIGN rule
2). Other parts of the daemon (the trigger engine, the action outbox, the log tailer) add
their own statements to the same transaction through `Write.extra`, so their state and the
events that caused it are committed together or not at all.

Reads use a second connection, so a long query never waits behind a write.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec

from .filter import EventFilter, us
from .model import Event, utcnow

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    occurred INTEGER NOT NULL,
    received INTEGER NOT NULL,
    event TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_occurred ON events (occurred);
CREATE INDEX IF NOT EXISTS events_event_occurred ON events (event, occurred);
CREATE INDEX IF NOT EXISTS events_resource_occurred ON events (resource_id, occurred);
"""

INSERT = (
    "INSERT OR IGNORE INTO events (id, occurred, received, event, resource_id, data) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)

# Most rows one transaction takes: large enough to amortise the commit, small enough that a
# group's wait stays in milliseconds.
MAX_GROUP_ROWS = 20_000
PRUNE_CHUNK = 5_000
CHECKPOINT_EVERY = 1.0  # seconds

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)

Statements = list[tuple[str, Sequence[Sequence[Any]]]]


@dataclass
class Write:
    """One caller's share of a group commit."""

    events: list[Event]
    rows: list[tuple[Any, ...]]
    extra: Statements = field(default_factory=list)
    future: asyncio.Future[list[Event]] | None = None


def event_row(event: Event) -> tuple[Any, ...]:
    """The row for an event whose `received` is already stamped."""
    assert event.received is not None
    return (
        str(event.id),
        us(event.occurred),
        us(event.received),
        event.event,
        event.resource["prefect.resource.id"],
        _encoder.encode(event),
    )


def decode_row(data: bytes) -> Event:
    return _decoder.decode(data)


async def _connect(path: Path) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    await conn.execute("PRAGMA busy_timeout=10000")
    return conn


class EventStore:
    """Append, fetch and query events; `open()` before use, `close()` commits what was queued."""

    def __init__(self, path: Path, *, retention: timedelta = timedelta(days=7)) -> None:
        self.path = Path(path)
        self.retention = retention
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._queue: asyncio.Queue[Write | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._commits = 0

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self, extra_schema: Iterable[str] = ()) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await _connect(self.path)
        await self._writer.executescript(SCHEMA + "".join(extra_schema))
        # Checkpoints copy the WAL into the database file; done by the writer on commit they
        # stall ingestion, so the writer never does them and a third connection does, in its
        # own thread, once a second while there are new commits.
        await self._writer.execute("PRAGMA wal_autocheckpoint=0")
        self._reader = await _connect(self.path)
        self._checkpointer = await _connect(self.path)
        self._task = asyncio.create_task(self._write_loop(), name="event-store-writer")
        self._checkpoint_task = asyncio.create_task(self._checkpoint_loop(), name="checkpoint")

    async def close(self) -> None:
        """Commit everything already queued, then close both connections."""
        if self._task is not None:
            await self._queue.put(None)
            await self._task
            self._task = None
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            self._checkpoint_task = None
        for conn in (self._reader, self._checkpointer, self._writer):
            if conn is not None:
                await conn.close()  # the last one to close checkpoints the WAL fully
        self._reader = self._checkpointer = self._writer = None

    async def _checkpoint_loop(self) -> None:
        assert self._checkpointer is not None
        seen = 0
        while True:
            await asyncio.sleep(CHECKPOINT_EVERY)
            if self._commits != seen:
                seen = self._commits
                try:
                    await self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:
                    log.warning("WAL checkpoint failed (will retry): %s", exc)

    # -- writing ---------------------------------------------------------------------------
    async def append(self, events: list[Event], *, extra: Statements | None = None,
                     now: datetime | None = None) -> list[Event]:
        """Store events (stamping `received`); returns the ones that were new, after commit.

        An event whose id is already stored is skipped (Prefect dedupes by id).
        """
        received = now or utcnow()
        for event in events:
            if event.received is None:
                event.received = received
        return await self.submit(Write(events, [event_row(e) for e in events], extra or []))

    async def submit(self, write: Write) -> list[Event]:
        """Queue a prepared write and wait for the commit that holds it."""
        if self._task is None:
            raise RuntimeError("the event store is closed")
        write.future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(write)
        return await write.future

    async def run(self, statements: Statements) -> None:
        """Commit statements with no events, in order with event writes."""
        await self.submit(Write([], [], statements))

    async def _write_loop(self) -> None:
        closing = False
        while not closing:
            first = await self._queue.get()
            if first is None:
                break
            group = [first]
            rows = len(first.rows)
            while rows < MAX_GROUP_ROWS and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    closing = True
                    break
                group.append(nxt)
                rows += len(nxt.rows)
            await self._commit_group(group)

    async def _commit_group(self, group: list[Write]) -> None:
        conn = self._writer
        assert conn is not None
        try:
            new_ids = await conn._execute(self._write_group, conn._conn, group)
        except Exception as exc:  # a failed group fails each caller, never the writer task
            log.exception("event store write failed")
            for w in group:
                if w.future is not None and not w.future.done():
                    w.future.set_exception(exc)
            return
        self._commits += 1
        for w in group:
            if w.future is not None and not w.future.done():
                stored = w.events if new_ids is None else [e for e in w.events if str(e.id) in new_ids]
                w.future.set_result(stored)

    @staticmethod
    def _write_group(conn: sqlite3.Connection, group: list[Write]) -> set[str] | None:
        """Runs in aiosqlite's thread: one transaction for the whole group.

        Returns None when every event was new, else the set of ids actually inserted, so that
        duplicates are not published twice.
        """
        rows = [r for w in group for r in w.rows]
        conn.execute("BEGIN IMMEDIATE")
        try:
            before = conn.total_changes
            if rows:
                conn.executemany(INSERT, rows)
            inserted = conn.total_changes - before
            new_ids: set[str] | None = None
            if inserted != len(rows):
                new_ids = EventStore._ids_inserted_now(conn, rows)
            for w in group:
                for sql, params in w.extra:
                    conn.executemany(sql, params)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return new_ids

    @staticmethod
    def _ids_inserted_now(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> set[str]:
        """Ids whose stored row is the one from this transaction (same data)."""
        new: set[str] = set()
        for row in rows:
            got = conn.execute("SELECT data FROM events WHERE id = ?", (row[0],)).fetchone()
            if got is not None and got[0] == row[5] and row[0] not in new:
                new.add(row[0])
        return new

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
        """Delete events older than the retention, in small transactions between writes."""
        cutoff = us((now or utcnow()) - self.retention)
        total = 0
        while True:
            rows = await self.read_sql(
                "SELECT seq FROM events WHERE occurred < ? ORDER BY occurred LIMIT ?",
                (cutoff, PRUNE_CHUNK),
            )
            if not rows:
                return total
            await self.run([("DELETE FROM events WHERE seq = ?", [(r[0],) for r in rows])])
            total += len(rows)
            await asyncio.sleep(0)


def _parse_token(token: str) -> tuple[int, int]:
    try:
        occurred, seq = token.split(":")
        return int(occurred), int(seq)
    except ValueError:
        from ..errors import InvalidInput

        raise InvalidInput([("page_token", "is not a token this daemon handed out")]) from None
