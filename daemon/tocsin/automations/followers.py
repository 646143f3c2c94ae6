"""Ordering by `follows` (§5.7): an event whose leader has not been seen waits for it.

A follower is released when its leader is evaluated, or at its `until` (15 minutes after it
was received) if the leader never comes; either way it is then evaluated like any event.
This holds the waiting followers and who waits for whom; the engine decides when.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..events.model import Event
from .state import Follower, RecordKind


class Followers:
    def __init__(self, dirty: set[tuple[Any, Any]]) -> None:
        self._dirty = dirty
        #: follower event id -> the follower
        self.by_id: dict[str, Follower] = {}
        #: leader id -> ids of the followers waiting for it (read-only to others: empty, no
        #: event can release a follower)
        self.waiting: dict[uuid.UUID, list[str]] = {}

    def __len__(self) -> int:
        return len(self.by_id)

    def wait(self, leader: uuid.UUID, event: Event, until: float) -> str:
        """File a follower; its id (the heap entry's reference)."""
        eid = str(event.id)
        self.by_id[eid] = Follower(event=event, until=until)
        self.waiting.setdefault(leader, []).append(eid)
        self._dirty.add((RecordKind.FOLLOWER, eid))
        return eid

    def release(self, leader: uuid.UUID, too_deep: bool = False) -> list[Event]:
        """The events waiting for `leader`, which has come, in the order they occurred; none
        when released followers `too_deep` in a chain: they are left to their deadline."""
        waiting = self.waiting.pop(leader, None)
        if not waiting or too_deep:
            return []
        released = []
        for fid in waiting:
            follower = self.by_id.pop(fid, None)
            if follower is not None:
                self._dirty.add((RecordKind.FOLLOWER, fid))
                released.append(follower.event)
        return sorted(released, key=lambda e: e.occurred)

    def give_up(self, fid: str) -> Event:
        """A follower whose wait ran out: its event, to evaluate without the leader."""
        follower = self.by_id.pop(fid)
        self._dirty.add((RecordKind.FOLLOWER, fid))
        leader = follower.event.follows
        if fid in self.waiting.get(leader, ()):  # type: ignore[arg-type]
            self.waiting[leader].remove(fid)  # type: ignore[index]
        return follower.event
