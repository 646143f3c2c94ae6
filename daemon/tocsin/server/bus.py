"""Fan-out of committed events to live readers (`/events/out`, the dashboard, tail).

The publisher never waits: each subscriber has a bounded queue, and one that falls behind
is cut off with a final "dropped" notice (Docker's event-stream rule) instead of slowing
ingestion. In-process listeners (the trigger engine) are called synchronously, in commit
order, before any socket reader sees the batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..events.filter import CompiledFilter
from ..events.model import Event

Listener = Callable[[list[Event]], None]

log = logging.getLogger("tocsin.bus")


class Subscription:
    def __init__(self, bus: EventBus, matches: CompiledFilter | None, maxsize: int) -> None:
        self._bus = bus
        self.matches = matches
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.dropped = False

    def offer(self, event: Event) -> None:
        if self.dropped or (self.matches is not None and not self.matches(event)):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped = True
            self._bus.unsubscribe(self)

    async def next(self) -> Event | None:
        """The next event; None once this subscriber has been dropped for falling behind."""
        if self.dropped and self.queue.empty():
            return None
        return await self.queue.get()

    def close(self) -> None:
        self._bus.unsubscribe(self)


class EventBus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def subscribe(self, matches: CompiledFilter | None = None, maxsize: int = 10_000) -> Subscription:
        sub = Subscription(self, matches, maxsize)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.discard(sub)
            if sub.dropped:
                # Wake a reader blocked on an empty queue so it learns it was dropped.
                try:
                    sub.queue.put_nowait(None)
                except asyncio.QueueFull:
                    pass

    def publish(self, events: list[Event]) -> None:
        if not events:
            return
        for listener in self._listeners:
            try:
                listener(events)
            except Exception:  # the events are committed: a failing part must not undo that
                log.exception("event listener %r failed", listener)
        for sub in list(self._subs):
            for event in events:
                sub.offer(event)
                if sub.dropped:
                    break

    @property
    def subscribers(self) -> int:
        return len(self._subs)
