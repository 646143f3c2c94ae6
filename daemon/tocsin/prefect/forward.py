"""`[[forward]]`: tocsin's events sent on to a Prefect server, each at least once.

Each link keeps a durable cursor — the store's `seq` up to which every matching event is
known to be *stored by Prefect* — in the same SQLite file, committed through the same writer
as the events. A batch is posted to `POST /api/events`; Prefect answers 204 as soon as the
batch is on its message bus, before it is written, so the cursor moves only once Prefect's
`events/filter` finds the batch's ids. Anything posted and not yet confirmed when either side
stops (even `kill -9`) is posted again after the restart; Prefect keeps one row per event id,
so a second delivery changes nothing there.

With one exception, which shapes how events are sent again: Prefect's SQLite persister
writes everything waiting on its bus in one INSERT, checking ids only against the table, so
two copies of one event waiting *together* fail that whole write, and after a few retries
Prefect drops every event in it. So a copy is never sent while another may still be waiting:
after a restart, or an error talking to Prefect, the link first waits `QUIET` seconds
(longer than Prefect takes to write what we can have left on its bus: at most `IN_FLIGHT`
batches), then sends only the events Prefect does not have; in normal running, a batch is
sent again (again only what is missing) only after `STALL` seconds without progress.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..events.filter import EventFilter
from ..events.model import Event
from ..events.store import decode_row
from .links import LinksComponent
from .wire import Credentials, PrefectError, PrefectWire

if TYPE_CHECKING:
    from ..config import PrefectLinkConfig
    from ..server.daemon import Daemon

log = logging.getLogger("tocsin.prefect.forward")

SCHEMA = """
CREATE TABLE IF NOT EXISTS prefect_forward (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
"""
BATCH = 500
#: Batches posted and not yet confirmed, at most: bounds what can wait on Prefect's bus.
IN_FLIGHT = 10
CONFIRM_POLL = 0.5
#: After a restart or an error, how long nothing is sent again (see the module docstring).
QUIET = 15.0
#: A batch whose stored count has not grown for this long is sent again (what is missing).
STALL = 30.0
#: After this many sendings a batch still incomplete is let go (as `unconfirmed`), so one
#: batch Prefect drops (older than its retention, say) cannot stop the link for good.
MAX_POSTINGS = 3
IDLE_WAIT = 1.0
MAX_BACKOFF = 30.0


@dataclass
class Batch:
    last_seq: int
    events: list[Event]
    #: Sent by this link since its last quiet period (False: Prefect may or may not have it).
    posted: bool = False
    postings: int = 0
    stored: int = 0
    progress_at: float = field(default_factory=time.monotonic)


class Forwarder:
    """One `[[forward]]` link."""

    def __init__(self, daemon: Daemon, link: PrefectLinkConfig, credentials: Credentials) -> None:
        self.daemon = daemon
        self.link = link
        self.credentials = credentials
        self.matches = EventFilter(names=link.names, resource=link.resource).compile()
        self.cursor = 0  # confirmed
        self.sent = 0  # read into a batch (>= cursor)
        self.pending: deque[Batch] = deque()
        self.quiet_until = 0.0
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
        if rows:  # a run before this one may have left events on Prefect's bus
            self.cursor = self.sent = rows[0][0]
            self.quiet_until = time.monotonic() + QUIET
        backoff = 1.0
        async with PrefectWire(self.link.url, self.credentials) as wire:
            while True:
                try:
                    busy = await self._step(wire)
                    backoff = 1.0
                except PrefectError as exc:
                    self._failed(str(exc))
                    self.quiet_until = time.monotonic() + QUIET
                    for batch in self.pending:  # whether Prefect has them is unknown now
                        batch.posted = False
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
        """Read (and, unless quiet, post) the next batch, or confirm the oldest one; True
        while there is work."""
        if len(self.pending) < IN_FLIGHT:
            batch = await self._next_batch()
            if batch is not None:
                if batch.events and time.monotonic() >= self.quiet_until:
                    await self._post(wire, batch, batch.events)
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
        return Batch(rows[-1][0], events)

    async def _post(self, wire: PrefectWire, batch: Batch, events: list[Event]) -> None:
        """Post events of a batch; when Prefect refuses them as invalid, post one by one and
        let go of each event it refuses, naming it in `last_error`."""
        batch.posted, batch.postings = True, batch.postings + 1
        if not events:
            return
        try:
            await wire.post_events(events)
            return
        except PrefectError as exc:
            if exc.status not in (400, 422):
                raise
        for event in list(events):  # `events` may be `batch.events`, which loses some here
            try:
                await wire.post_events([event])
            except PrefectError as one:
                if one.status not in (400, 422):
                    raise
                self._failed(f"Prefect refused event {event.id} ({event.event}): {one}")
                batch.events.remove(event)

    async def _confirm(self, wire: PrefectWire) -> bool:
        batch = self.pending[0]
        stored = await wire.count_stored(batch.events) if batch.events else 0
        now = time.monotonic()
        if stored >= len(batch.events):
            self.pending.popleft()
            self.forwarded += len(batch.events)
            await self._commit(batch.last_seq)
            await self._measure_lag()
            return True
        if stored > batch.stored:
            batch.stored, batch.progress_at = stored, now
        elif now >= self.quiet_until and (not batch.posted or now - batch.progress_at > STALL):
            if batch.postings >= MAX_POSTINGS:
                self.pending.popleft()
                self.unconfirmed += len(batch.events) - stored
                self._failed(f"{len(batch.events) - stored} events sent {batch.postings} "
                             "times were never found in Prefect; moving on")
                await self._commit(batch.last_seq)
                return True
            have = await wire.stored_ids(batch.events)
            await self._post(wire, batch, [e for e in batch.events if str(e.id) not in have])
            batch.progress_at = now
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

    def make(self, daemon: Daemon, link: PrefectLinkConfig, credentials: Credentials) -> Forwarder:
        return Forwarder(daemon, link, credentials)

    async def start(self, daemon: Daemon) -> None:
        daemon.bus.add_listener(self._on_commit)
        await super().start(daemon)

    def _on_commit(self, events: list[Event]) -> None:
        for f in self.links:
            f.wake.set()
