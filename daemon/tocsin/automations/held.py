"""Early expected events (decision 5): held until a window of their trigger is armed.

An `after` proactive trigger counts expected events only in a window its arming event opened;
one that comes first is held for HELD_TTL and counted by the window that opens around its
time, if one does.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..events.model import Event
from .buckets import BucketKey
from .state import HELD_TTL, Bucket, Held, RecordKind


class HeldEvents:
    def __init__(self, dirty: set[tuple[Any, Any]]) -> None:
        self._dirty = dirty
        self.by_key: dict[BucketKey, list[Held]] = {}
        #: (until, bucket key) in the order they were held, so expiry is a look at the front
        #: (read-only to others: the engine looks there before calling `expire`)
        self.expiry: deque[tuple[float, BucketKey]] = deque()

    def __contains__(self, bkey: BucketKey) -> bool:
        return bkey in self.by_key

    def hold(self, bkey: BucketKey, event: Event, now: float) -> None:
        until = now + HELD_TTL
        self.by_key.setdefault(bkey, []).append(Held(event=event, until=until))
        self._dirty.add((RecordKind.HELD, bkey))
        self.expiry.append((until, bkey))

    def restore(self, bkey: BucketKey, held: list[Held]) -> None:
        self.by_key[bkey] = held
        for h in held:
            self.expiry.append((h.until, bkey))

    def count_into(self, bucket: Bucket, bkey: BucketKey) -> None:
        """A window opens: the held events that occurred in it count there (and go)."""
        kept = []
        for h in self.by_key[bkey]:
            if bucket.start <= h.event.occurred.timestamp() < bucket.end:
                bucket.count += 1
            else:
                kept.append(h)
        self._set(bkey, kept)

    def expire(self, now: float) -> None:
        expiry = self.expiry
        while expiry and expiry[0][0] <= now:
            _, bkey = expiry.popleft()
            held = self.by_key.get(bkey)
            if held is not None:
                kept = [h for h in held if h.until > now]
                if len(kept) != len(held):
                    self._set(bkey, kept)

    def forget(self, trigger_ids: set[str]) -> None:
        for bkey in [k for k in self.by_key if k[0] in trigger_ids]:
            del self.by_key[bkey]
            self._dirty.add((RecordKind.HELD, bkey))

    def _set(self, bkey: BucketKey, held: list[Held]) -> None:
        if held:
            self.by_key[bkey] = held
        else:
            self.by_key.pop(bkey, None)
        self._dirty.add((RecordKind.HELD, bkey))
