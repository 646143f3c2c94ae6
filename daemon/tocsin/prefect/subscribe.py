"""`[[subscribe]]`: a Prefect server's events (its `events/out` websocket, with a filter)
stored in tocsin, so local automations, notifications and the dashboard react to flow runs a
Prefect server orchestrates.

Each link keeps a durable resume point — the `occurred` time up to which it has everything —
committed in the same transaction as the events it covers. After a disconnect (or a restart)
the link first opens the live stream, then catches up from the resume point through
`events/filter`, and once more a little later for events Prefect had accepted but not yet
written. Prefect does not deliver in `occurred` order, so the resume point trails the newest
event seen by a margin; events seen twice are stored once (the store skips known ids).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import msgspec

from ..events.filter import EventFilter, us
from ..events.model import Event
from ..events.writer import Statements
from .filters import to_prefect
from .links import LinksComponent
from .wire import Credentials, PrefectError, PrefectWire

if TYPE_CHECKING:
    from ..config import PrefectLinkConfig
    from ..server.daemon import Daemon

log = logging.getLogger("tocsin.prefect.subscribe")

SCHEMA = """
CREATE TABLE IF NOT EXISTS prefect_subscribe (name TEXT PRIMARY KEY, since INTEGER NOT NULL);
"""
#: How far the resume point trails the newest event seen (Prefect's own subscriber: 1 min).
MARGIN = timedelta(minutes=1)
#: A first connection (no resume point) catches up this far back.
FIRST_LOOKBACK = timedelta(minutes=1)
#: When the second catch-up runs: after Prefect has written what it had accepted.
SETTLE_SECONDS = 6.0
MAX_BACKOFF = 30.0


class Subscriber:
    """One `[[subscribe]]` link."""

    def __init__(self, daemon: Daemon, link: PrefectLinkConfig, credentials: Credentials) -> None:
        self.daemon = daemon
        self.link = link
        self.credentials = credentials
        self.matches = EventFilter(names=link.names, resource=link.resource).compile()
        self.since: datetime | None = None
        self.newest: datetime | None = None
        self.received = 0
        self.caught_up = False
        self.connected = False
        self.connections = 0
        self.last_error: str | None = None
        self.task: asyncio.Task[None] | None = None

    def status(self) -> dict[str, Any]:
        return {"url": self.link.url, "connected": self.connected, "received": self.received,
                "connections": self.connections,
                "resume_from": self.since.isoformat() if self.since else None,
                "last_error": self.last_error}

    async def run(self) -> None:
        rows = await self.daemon.store.read_sql(
            "SELECT since FROM prefect_subscribe WHERE name = ?", (self.link.key,))
        if rows:
            self.since = datetime.fromtimestamp(rows[0][0] / 1_000_000, UTC)
        backoff = 1.0
        async with PrefectWire(self.link.url, self.credentials) as wire:
            while True:
                try:
                    await self._session(wire)  # returns only by raising: every stream ends
                except PrefectError as exc:
                    if str(exc) != self.last_error:
                        log.warning("subscribe to %s: %s (will retry)", self.link.url, exc)
                    self.last_error = str(exc)
                # A stream that was up is retried after a second; failed connections back off.
                backoff = 1.0 if self.connected else min(backoff * 2, MAX_BACKOFF)
                self.connected = False
                await asyncio.sleep(backoff)

    async def _session(self, wire: PrefectWire) -> None:
        """One connection: live stream first, then the catch-ups, until it closes."""
        start = self.since or datetime.now(UTC) - FIRST_LOOKBACK
        self.caught_up = False
        query = to_prefect(self.link.names, self.link.resource, since=start)
        ws = await wire.events_out(query, backfill=False)
        self.connected, self.connections = True, self.connections + 1
        log.info("subscribed to %s (catching up from %s)", self.link.url, start.isoformat())
        catch_up = asyncio.create_task(self._catch_up(wire, query))
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                data = msgspec.json.decode(msg.data)
                if isinstance(data, dict) and data.get("type") == "event":
                    await self._store([msgspec.convert(data["event"], Event)])
        except (aiohttp.ClientError, msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise PrefectError(f"the event stream from {self.link.url} broke: {exc}") from None
        finally:
            catch_up.cancel()
            await ws.close()
        raise PrefectError(f"{self.link.url} closed the event stream "
                           f"({ws.close_code}: {ws.exception() or 'no reason'})")

    async def _catch_up(self, wire: PrefectWire, query: dict[str, Any]) -> None:
        """Everything the query finds through `events/filter`, now and once Prefect settles;
        then the resume point may follow the live stream."""
        try:
            for delay in (0.0, SETTLE_SECONDS):
                await asyncio.sleep(delay)
                async for page in wire.events(query):
                    await self._store(page)
        except PrefectError as exc:
            self.last_error = f"catching up failed: {exc}"
            log.warning("subscribe to %s: %s", self.link.url, self.last_error)
            return
        self.caught_up = True
        resume = self._resume()
        if resume:
            await self.daemon.store.run(resume)

    async def _store(self, events: list[Event]) -> None:
        """Store what the link's filter selects; once caught up, the resume point moves in
        the same commit."""
        mine = [e for e in events if self.matches(e)]
        for e in mine:
            e.received = None  # tocsin stamps its own arrival time
            if self.newest is None or e.occurred > self.newest:
                self.newest = e.occurred
        if mine:
            stored = await self.daemon.ingest(mine, extra=self._resume() if self.caught_up else None)
            self.received += len(stored)

    def _resume(self) -> Statements | None:
        """The statement moving the durable resume point to MARGIN before the newest event
        seen, or None when it would not move."""
        if self.newest is None or (self.since is not None and self.newest - MARGIN <= self.since):
            return None
        self.since = self.newest - MARGIN
        return [("INSERT INTO prefect_subscribe (name, since) VALUES (?, ?) "
                 "ON CONFLICT (name) DO UPDATE SET since = excluded.since",
                 [(self.link.key, us(self.since))])]


class SubscribeComponent(LinksComponent):
    name = "subscribe"
    schema = SCHEMA

    def make(self, daemon: Daemon, link: PrefectLinkConfig, credentials: Credentials) -> Subscriber:
        return Subscriber(daemon, link, credentials)
