"""The store's one writing connection, on its own thread, with group commit.

Callers queue a `Write` and await its future; the thread takes everything queued, commits it
as one transaction and resolves every caller's future on its event loop only after COMMIT
(DESIGN rule 2). Other parts of the daemon (the trigger engine, the action outbox, the log
tailer) add their own statements to the same transaction through `Write.extra`, so their
state and the events that caused it are committed together or not at all.

The thread takes work from a thread-safe queue by itself instead of being handed it by an
event-loop task: a caller that goes on with CPU work right after queueing (the tailer parsing
its next batch) would otherwise leave the writer idle until the loop got a turn.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from ..errors import StoreError
from ..repeated import RepeatedErrors
from . import resource_index
from .filter import us
from .model import Event

log = logging.getLogger(__name__)

COLUMNS = 6
_ROW = "(" + ", ".join("?" * COLUMNS) + ")"
INSERT = ("INSERT OR IGNORE INTO events (id, occurred, received, name, resource, data) "
          f"VALUES {_ROW}")
NAME, RESOURCE = 3, 4  # positions of the texts the writer turns into ids

# Rows per INSERT statement (a power of two). sqlite3 releases the GIL for each step of a
# statement: with one row per step (executemany) the writer thread has to win the GIL back
# for every row, and while the event loop is busy parsing it waits milliseconds each time.
# Many rows per statement make the SQLite work one long stretch without the GIL, beside the
# event loop on another core. More than 512 gains nothing and the prepared statements (one
# per power of two, cached) grow large: 4,096 cost the daemon ~10 MB of resident memory.
ROWS_PER_STATEMENT = 512

# Most rows one transaction takes: large enough to amortise the commit, small enough that a
# group's wait stays in milliseconds.
MAX_GROUP_ROWS = 20_000

# After this many rows, a second without writes ends a burst: the writer then gives back the
# memory it took (SQLite's page cache, and the heap the burst freed).
BURST_ROWS = 10_000
IDLE_SECONDS = 1.0

Statements = list[tuple[str, Sequence[Sequence[Any]]]]

#: how long the WAL's truncation waits for readers to leave old snapshots (ms); ingestion
#: waits that long at most, and a truncation that times out is tried again a little later
TRUNCATE_WAIT_MS = 200
TRUNCATE_RETRY_S = 0.25
WRITER_BUSY_MS = 10_000

_encoder = msgspec.json.Encoder()


def event_params(events: list[Event]) -> list[Any]:
    """INSERT's parameters for events whose `received` is stamped, flattened (COLUMNS per
    event), with the name and resource id as text (the writer thread swaps in their ids).
    Built in one pass per batch: this runs on the event loop for every event stored."""
    ids = msgspec.to_builtins([e.id for e in events])  # UUIDs formatted in C: 6x str()
    params: list[Any] = []
    received_at: datetime | None = None
    received_us = 0
    for event, event_id in zip(events, ids, strict=True):
        if event.received is not received_at:  # one stamp per batch, converted once
            assert event.received is not None
            received_at, received_us = event.received, us(event.received)
        params += (event_id, us(event.occurred), received_us, event.event,
                   event.resource["prefect.resource.id"], _encoder.encode(event))
    return params


@dataclass
class Write:
    """One caller's share of a group commit."""

    events: list[Event]
    #: The events' rows, flattened (COLUMNS values per event), built by the caller so that
    #: the writer thread does not need the GIL for them.
    params: list[Any]
    extra: Statements = field(default_factory=list)
    future: asyncio.Future[list[Event]] | None = None
    #: `extra` may delete rows of event_names / event_resources (retention); the resource
    #: index is brought up to date before it runs
    forgets_refs: bool = False

    @classmethod
    def of(cls, events: list[Event], extra: Statements | None = None) -> Write:
        return cls(events, event_params(events), extra or [])

    @property
    def rows(self) -> int:
        return len(self.params) // COLUMNS


class GroupWriter:
    """Commits queued writes in groups on a thread that owns `conn`."""

    def __init__(self, conn: sqlite3.Connection, on_commit: Callable[[], None],
                 check: Callable[[], None] = lambda: None, *,
                 wal_path: Path | None = None, wal_limit: int = 0,
                 checkpoint_lock: threading.Lock | None = None) -> None:
        self._conn = conn
        self._on_commit = on_commit
        self._check = check  # raises when the store must not be written to
        self._wal_path = wal_path
        self._wal_limit = wal_limit
        self._truncate_after = 0.0
        #: one checkpoint at a time: the store's PASSIVE ones and the writer's TRUNCATE
        #: would otherwise find each other busy and give up
        self._checkpoint_lock = checkpoint_lock or threading.Lock()
        self._queue: queue.SimpleQueue[Write | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="event-store-writer",
                                        daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self.failures = RepeatedErrors(log, "event store write failed", traceback=True)
        self._names = RefCache("event_names", "name")
        self._resources = RefCache("event_resources", "resource_id")

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread.start()

    def submit(self, write: Write) -> asyncio.Future[list[Event]]:
        """Queue a write; its future resolves (on this loop) after the commit that holds it."""
        if self._loop is None or self._stopping:
            raise StoreError("the event store is closed (the daemon is stopping)")
        write.future = self._loop.create_future()
        self._queue.put(write)
        return write.future

    async def stop(self) -> None:
        """Commit everything already queued, then end the thread."""
        if self._loop is None or self._stopping:
            return
        self._stopping = True
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    # -- the writer thread -----------------------------------------------------------------
    def _run(self) -> None:
        written = 0
        while True:
            try:
                first = self._queue.get(timeout=IDLE_SECONDS if written >= BURST_ROWS else None)
            except queue.Empty:
                written = 0
                try:
                    self._conn.execute("PRAGMA shrink_memory")
                    _release_free_memory()
                except Exception:  # only memory is at stake; the thread must live on
                    log.exception("releasing memory after a burst failed")
                continue
            if first is None:
                return
            group, rows, closing = [first], first.rows, False
            while rows < MAX_GROUP_ROWS:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    closing = True
                    break
                group.append(nxt)
                rows += nxt.rows
            self._commit_group(group)
            written += rows
            self._bound_wal()
            if closing:
                return

    def _bound_wal(self) -> None:
        """Past half its limit, checkpoint and empty the WAL before the next commit.

        Under sustained ingest another connection's checkpoint never finds the log fully
        copied (frames keep coming) nor the write lock free for long, so the WAL would grow
        without end; here, between two commits, it is. The store's PASSIVE checkpoints have
        usually copied most frames already, so the pause is short."""
        if (self._wal_path is None or file_size(self._wal_path) <= self._wal_limit // 2
                or time.monotonic() < self._truncate_after):
            return
        conn = self._conn
        try:
            conn.execute(f"PRAGMA busy_timeout={TRUNCATE_WAIT_MS}")
            with self._checkpoint_lock:
                busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if busy:
                log.debug("WAL truncation postponed: a reader holds an old snapshot")
                self._truncate_after = time.monotonic() + TRUNCATE_RETRY_S
        except sqlite3.Error as exc:
            log.warning("WAL truncation failed (will retry): %s", exc)
        finally:
            conn.execute(f"PRAGMA busy_timeout={WRITER_BUSY_MS}")

    def _commit_group(self, group: list[Write]) -> None:
        """Commit the group as one transaction; if that fails, commit each caller's write on
        its own, so that one caller's rows that cannot be stored fail that caller only."""
        assert self._loop is not None
        try:
            new_ids = self._write_group(group)
        except Exception as exc:  # a failed group fails its callers, never the writer
            if len(group) > 1:
                for write in group:
                    self._commit_group([write])
                return
            self.failures.note(exc)
            self._loop.call_soon_threadsafe(_fail, group, exc)
            return
        self.failures.clear()
        self._loop.call_soon_threadsafe(self._resolve, group, new_ids)

    def _write_group(self, group: list[Write]) -> set[str] | None:
        """One transaction for the whole group.

        Returns None when every event was new, else the set of ids actually inserted, so that
        duplicates are not published twice.
        """
        conn = self._conn
        self._check()
        params = group[0].params if len(group) == 1 else [v for w in group for v in w.params]
        conn.execute("BEGIN IMMEDIATE")
        try:
            created = (self._names.swap_in(conn, params, NAME),
                       self._resources.swap_in(conn, params, RESOURCE))
            # before the inserts: seqs that deletions freed are noticed before they are reused
            resource_index.catch_up(conn)
            before = conn.total_changes
            _insert_rows(conn, params)
            new_ids: set[str] | None = None
            if conn.total_changes - before != len(params) // COLUMNS:
                new_ids = _ids_inserted_now(conn, params)
            forgets = any(w.forgets_refs for w in group)
            if forgets:
                resource_index.catch_up(conn, lag=0)
            for w in group:
                for sql, rows in w.extra:
                    conn.executemany(sql, rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already (disk full, I/O)
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    log.warning("rolling back a failed write failed too", exc_info=True)
            raise
        for cache, new in zip((self._names, self._resources), created, strict=True):
            cache.committed(new, forget=forgets)
        return new_ids

    def _resolve(self, group: list[Write], new_ids: set[str] | None) -> None:
        """On the loop: count the commit and hand each caller the events that were new."""
        self._on_commit()
        for w in group:
            if w.future is not None and not w.future.done():
                stored = (w.events if new_ids is None
                          else [e for e in w.events if str(e.id) in new_ids])
                w.future.set_result(stored)


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _release_free_memory() -> None:
    """glibc keeps freed heap memory (a burst's large lists and read buffers) in the process,
    fragmented; malloc_trim hands it back. A no-op where there is no such call."""
    trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    if trim is not None:
        trim(0)


def _fail(group: list[Write], exc: Exception) -> None:
    for w in group:
        if w.future is not None and not w.future.done():
            w.future.set_exception(exc)


class RefCache:
    """Ids of the texts of one lookup table (event names, or resource ids).

    The events table's indexes hold these small integers instead of the text, which makes
    their pages smaller and inserts about 30% faster. Ids are looked up, and missing ones
    created, with one statement each per group (json_each: no step per value); only ids
    whose transaction committed are cached.
    """

    MAX = 100_000

    def __init__(self, table: str, column: str) -> None:
        self.ids: dict[str, int] = {}
        self._create = f"INSERT OR IGNORE INTO {table} ({column}) SELECT value FROM json_each(?)"
        self._select = (f"SELECT json_group_object({column}, id) FROM {table} "
                        f"WHERE {column} IN (SELECT value FROM json_each(?))")

    def swap_in(self, conn: sqlite3.Connection, params: list[Any], at: int) -> dict[str, int]:
        """Replace the texts at `at`, `at + COLUMNS`, ... with their ids; returns the ids
        not cached before (created or found in this transaction)."""
        texts = params[at::COLUMNS]
        ids = self.ids
        missing = [t for t in set(texts) if t not in ids]
        found: dict[str, int] = {}
        if missing:
            arg = _encoder.encode(missing)
            conn.execute(self._create, (arg,))
            found = msgspec.json.decode(conn.execute(self._select, (arg,)).fetchone()[0])
        params[at::COLUMNS] = [ids.get(t) or found[t] for t in texts]
        return found

    def committed(self, found: dict[str, int], *, forget: bool) -> None:
        """After COMMIT: cache what this transaction found, or start over if it may have
        deleted ids (or the cache is full)."""
        if forget or len(self.ids) + len(found) > self.MAX:
            self.ids = {}
        else:
            self.ids.update(found)


@functools.cache
def _insert_sql(rows: int) -> str:
    return INSERT + f", {_ROW}" * (rows - 1)


def _insert_rows(conn: sqlite3.Connection, params: list[Any]) -> None:
    """Insert in statements of ROWS_PER_STATEMENT rows, then powers of two for the rest, so
    that only a few distinct statements exist and SQLite's statement cache keeps them."""
    i, rows = 0, len(params) // COLUMNS
    while i < rows:
        n = min(ROWS_PER_STATEMENT, 1 << ((rows - i).bit_length() - 1))
        conn.execute(_insert_sql(n), params[i * COLUMNS:(i + n) * COLUMNS])
        i += n


def _ids_inserted_now(conn: sqlite3.Connection, params: list[Any]) -> set[str]:
    """Ids whose stored row is the one from this transaction (same data)."""
    new: set[str] = set()
    for i in range(0, len(params), COLUMNS):
        event_id, data = params[i], params[i + COLUMNS - 1]
        got = conn.execute("SELECT data FROM events WHERE id = ?", (event_id,)).fetchone()
        if got is not None and got[0] == data:
            new.add(event_id)
    return new
