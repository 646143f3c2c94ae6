"""`[[forward]]`: tocsin's events sent on to a Prefect server, each at least once.

Each link keeps a durable cursor — the store's `seq` up to which every matching event is
known to be *stored by Prefect* — in the same SQLite file, committed through the same writer
as the events. A batch is posted to `POST /api/events`; Prefect answers 204 as soon as the
batch is on its message bus, before it is written, so the cursor moves only once Prefect's
`events/filter` finds the batch's ids. Anything posted and not yet confirmed when either side
stops (even `kill -9`) is posted again after the restart; Prefect keeps one row per event id,
so a second delivery changes nothing there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..events.filter import EventFilter
from ..events.model import Event
from ..events.store import decode_row
from .links import LinksComponent
from .wire import PrefectError, PrefectWire

if TYPE_CHECKING:
    from ..config import PrefectLinkConfig
    from ..server.daemon import Daemon

log = logging.getLogger("tocsin.prefect.forward")

SCHEMA = """
CREATE TABLE IF NOT EXISTS prefect_forward (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
"""
BATCH = 500
#: Batches posted and not yet confirmed, at most (Prefect writes while we send more).
IN_FLIGHT = 40
CONFIRM_POLL = 0.5
#: A batch Prefect has not stored this long after it answered 204 is posted again.
CONFIRM_TIMEOUT = 30.0
#: After this many postings a batch still not found is let go (as `unconfirmed`), so one
#: batch Prefect drops (older than its retention, say) cannot stop the link for good.
MAX_POSTINGS = 3
IDLE_WAIT = 1.0
MAX_BACKOFF = 30.0


@dataclass
class Batch:
    last_seq: int
    events: list[Event]
    posted_at: float
    postings: int = 1


class Forwarder:
    """One `[[forward]]` link."""

    def __init__(self, daemon: Daemon, link: PrefectLinkConfig, api_key: str | None) -> None:
        self.daemon = daemon
        self.link = link
        self.api_key = api_key
        self.matches = EventFilter(names=link.names, resource=link.resource).compile()
        self.cursor = 0  # confirmed
        self.sent = 0  # posted (>= cursor)
        self.pending: deque[Batch] = deque()
        self.wake = asyncio.Event()
        self.forwarded = 0
        self.unconfirmed = 0
        self.lag = 0
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.task: asyncio.Task[None] | None = None

    def status(self) -> dict[str, Any]:
        return {"url": self.link.url, "forwarded": self.forwarded, "lag_events": self.lag,
                "cursor": self.cursor, "unconfirmed": self.unconfirmed,
                "last_error": self.last_error,
                "last_error_at": (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(
                    self.last_error_at)) if self.last_error_at else None)}

    async def run(self) -> None:
        rows = await self.daemon.store.read_sql(
            "SELECT seq FROM prefect_forward WHERE name = ?", (self.link.key,))
        self.cursor = self.sent = rows[0][0] if rows else 0
        backoff = 1.0
        async with PrefectWire(self.link.url, self.api_key) as wire:
            while True:
                try:
                    busy = await self._step(wire)
                    backoff = 1.0
                except PrefectError as exc:
                    self._failed(str(exc))
                    self.pending.clear()  # post again from the confirmed cursor
                    self.sent = self.cursor
                    await self._measure_lag()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                if not busy:
                    self.wake.clear()
                    try:
                        await asyncio.wait_for(self.wake.wait(), IDLE_WAIT)
                    except TimeoutError:
                        pass

    def _failed(self, error: str) -> None:
        if error != self.last_error:
            log.warning("forward to %s: %s (will retry)", self.link.url, error)
        self.last_error, self.last_error_at = error, time.time()

    async def _step(self, wire: PrefectWire) -> bool:
        """Post the next batch, or confirm the oldest one; True while there is work."""
        if len(self.pending) < IN_FLIGHT:
            batch = await self._next_batch()
            if batch is not None:
                if batch.events:
                    await self._post(wire, batch)
                self.pending.append(batch)  # even with nothing in it: the cursor moves in order
                self.sent = batch.last_seq
                return True
        if not self.pending:
            await self._measure_lag()
            return False
        return await self._confirm(wire)

    async def _next_batch(self) -> Batch | None:
        rows = await self.daemon.store.read_sql(
            "SELECT seq, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (self.sent, BATCH))
        if not rows:
            return None
        events = [e for e in (decode_row(data) for _, data in rows) if self.matches(e)]
        return Batch(rows[-1][0], events, time.monotonic())

    async def _post(self, wire: PrefectWire, batch: Batch) -> None:
        """Post a batch; when Prefect refuses it as invalid, post one by one and let go of
        each event it refuses, naming it in `last_error`."""
        try:
            await wire.post_events(batch.events)
        except PrefectError as exc:
            if exc.status not in (400, 422):
                raise
            kept = []
            for event in batch.events:
                try:
                    await wire.post_events([event])
                    kept.append(event)
                except PrefectError as one:
                    if one.status not in (400, 422):
                        raise
                    self._failed(f"Prefect refused event {event.id} ({event.event}): {one}")
            batch.events = kept
        batch.posted_at = time.monotonic()

    async def _confirm(self, wire: PrefectWire) -> bool:
        batch = self.pending[0]
        stored = await wire.count_stored(batch.events) if batch.events else 0
        if stored >= len(batch.events):
            self.pending.popleft()
            self.forwarded += len(batch.events)
            await self._commit(batch.last_seq)
            await self._measure_lag()
            return True
        if time.monotonic() - batch.posted_at > CONFIRM_TIMEOUT:
            if batch.postings >= MAX_POSTINGS:
                self.pending.popleft()
                self.unconfirmed += len(batch.events) - stored
                self._failed(f"{len(batch.events) - stored} events posted {batch.postings} "
                             "times were never found in Prefect; moving on")
                await self._commit(batch.last_seq)
                return True
            await self._post(wire, batch)
            batch.postings += 1
            return True
        await asyncio.sleep(CONFIRM_POLL)
        return True

    async def _commit(self, seq: int) -> None:
        self.cursor = seq
        await self.daemon.store.run([(
            "INSERT INTO prefect_forward (name, seq) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq", [(self.link.key, seq)])])

    async def _measure_lag(self) -> None:
        """Events stored here past the confirmed cursor (forwarded or passed over next)."""
        rows = await self.daemon.store.read_sql("SELECT max(seq) FROM events")
        top = rows[0][0] or 0
        if top < self.cursor and not self.pending:  # retention took the newest rows: start over
            log.warning("forward to %s: the store's events end before the cursor; sending "
                        "again from the start (Prefect keeps one copy of each)", self.link.url)
            self.cursor = self.sent = 0
            await self._commit(0)
        self.lag = max(top - self.cursor, 0)


class ForwardComponent(LinksComponent):
    name = "forward"
    schema = SCHEMA

    def make(self, daemon: Daemon, link: PrefectLinkConfig, api_key: str | None) -> Forwarder:
        return Forwarder(daemon, link, api_key)

    async def start(self, daemon: Daemon) -> None:
        daemon.bus.add_listener(self._on_commit)
        await super().start(daemon)

    def _on_commit(self, events: list[Event]) -> None:
        for f in self.links:
            f.wake.set()
