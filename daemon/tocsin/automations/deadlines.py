"""When the engine must look again: a heap of proactive deadlines, a wheel of reactive expiries.

Proactive windows, metric checks and waiting followers each have a moment at which something
may fire; they wait in one heap, ordered by time, so `Engine.advance` fires them in time
order and `next_deadline` tells the daemon when to call it (decision 1: no sweeps).

A reactive window is only forgotten at its deadline (no firing depends on the moment, and
the engine expires a due one when an event touches it), so a list slot per window in a
wheel of whole seconds does instead of a heap entry: ~100 bytes less for each of maybe a
million open windows.

Entries are never removed early: a replaced or rescheduled one stays until its time, when
the engine finds it stale (`live`, `in_wheel`). Once stale entries outnumber the live ones
a lot (immediate buckets wait days), one pass drops them.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from typing import Any

from .state import Bucket


class Due(Enum):
    """What a heap entry wakes up, and what its reference is."""

    #: a proactive window ends (ref: the Bucket)
    BUCKET = "bucket"
    #: a metric trigger is checked again (ref: the automation id)
    METRIC = "metric"
    #: a follower stops waiting for its leader (ref: the follower's event id)
    FOLLOWER = "follower"


#: (at, tie-breaker, kind, reference)
Entry = tuple[float, int, Due, Any]
#: stale entries tolerated beyond 4 per live one before a compacting pass
SLACK = 10_000


class Deadlines:
    """The heap and the wheel. `live(entry)` / `in_wheel(bucket)` say whether an entry still
    stands; `live_count()` how many could (open buckets and followers)."""

    def __init__(self, live: Callable[[Entry], bool], in_wheel: Callable[[Bucket], bool],
                 live_count: Callable[[], int]) -> None:
        self._live = live
        self._in_wheel = in_wheel
        self._live_count = live_count
        #: the heap, and the wheel's slots (a heap of whole seconds): read-only to others,
        #: who may look at their first entries to see whether anything is due at all
        self.heap: list[Entry] = []
        self.wheel_slots: list[int] = []
        self._counter = itertools.count()
        #: whole second -> reactive windows expiring in the second before it
        self._wheel: dict[int, list[Bucket]] = {}
        self._wheel_size = 0

    @property
    def heap_size(self) -> int:
        return len(self.heap)

    @property
    def wheel_size(self) -> int:
        return self._wheel_size

    def push(self, at: float, kind: Due, ref: Any) -> None:
        heap = self.heap
        heapq.heappush(heap, (at, next(self._counter), kind, ref))
        if len(heap) > 4 * self._live_count() + SLACK:
            heap[:] = [entry for entry in heap if self._live(entry)]
            heapq.heapify(heap)

    def push_buckets(self, buckets: Iterable[Bucket]) -> None:
        """Many proactive windows at once (a restore): one heapify, not a push each."""
        counter = self._counter
        self.heap.extend((b.deadline, next(counter), Due.BUCKET, b) for b in buckets)
        heapq.heapify(self.heap)

    def to_wheel(self, buckets: Sequence[Bucket]) -> None:
        """File reactive windows in the wheel's one-second slots (one, or a restore's many)."""
        wheel, slots = self._wheel, self.wheel_slots
        for bucket in buckets:
            slot = int(bucket.deadline) + 1
            entries = wheel.get(slot)
            if entries is None:
                entries = wheel[slot] = []
                heapq.heappush(slots, slot)
            entries.append(bucket)
        self._wheel_size += len(buckets)
        if self._wheel_size > 4 * self._live_count() + SLACK:
            for at, kept in wheel.items():
                kept[:] = [b for b in kept if int(b.deadline) + 1 == at and self._in_wheel(b)]
            self._wheel_size = sum(len(kept) for kept in wheel.values())

    def pop(self, now: float) -> Entry | None:
        """The next live heap entry due by `now` (stale ones on the way are dropped)."""
        heap = self.heap
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if self._live(entry):
                return entry
        return None

    def pop_wheel(self, now: float) -> list[Bucket] | None:
        """The entries of the earliest wheel slot due by `now` (stale ones included)."""
        slots = self.wheel_slots
        if not slots or slots[0] > now:
            return None
        entries = self._wheel.pop(heapq.heappop(slots))
        self._wheel_size -= len(entries)
        return entries

    def next(self) -> float | None:
        """The earliest time something is due (stale wheel entries may make it early)."""
        heap = self.heap
        while heap and not self._live(heap[0]):
            heapq.heappop(heap)
        due = [heap[0][0]] if heap else []
        if self.wheel_slots:
            due.append(float(self.wheel_slots[0]))
        return min(due, default=None)
