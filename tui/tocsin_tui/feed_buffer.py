"""The events the dashboard holds in memory: the newest few thousand, in arrival order.

The stream appends to an inbox from the network without touching the UI; a timer moves the
inbox into the buffer a few times a second (one screen update per batch, however many
events arrived). Ids are remembered so a reconnect's backfill does not show an event twice.
"""

from __future__ import annotations

from collections import deque
from typing import Any

Event = dict[str, Any]

MAX_EVENTS = 5_000


class FeedBuffer:
    def __init__(self, max_events: int = MAX_EVENTS) -> None:
        self.max_events = max_events
        self.events: deque[Event] = deque()
        self._ids: set[str] = set()
        self.inbox: list[Event] = []

    def take_inbox(self) -> list[Event]:
        """Move what arrived since the last call into the buffer; return the new events."""
        if not self.inbox:
            return []
        batch, self.inbox = self.inbox, []
        fresh = [e for e in batch if e.get("id") not in self._ids]
        if len(fresh) > self.max_events:
            fresh = fresh[-self.max_events:]
        for event in fresh:
            self._ids.add(event.get("id"))
            self.events.append(event)
        while len(self.events) > self.max_events:
            self._ids.discard(self.events.popleft().get("id"))
        return fresh

    def __len__(self) -> int:
        return len(self.events)
