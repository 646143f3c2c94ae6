"""The trigger engine: pure evaluation of automations over events and time (DESIGN rule 1).

State in, an event or a clock tick in, new state and firings out. The engine never reads
the wall clock: every call carries `now` (processing time: an event's `received` live, the
virtual clock in replay). Windows are kept in event time (`occurred`) as Prefect does.

What it does, following prefect-semantics §5–§6 and "tocsin's decisions":

- reactive windows, `after` arming, counting, eager firing and cool-down (§5.2–§5.4);
- proactive windows fire at their deadline: one heap of deadlines, `next_deadline()` tells
  the daemon when to call `advance` (decision 1) — no sweeps, `within: 0` has no time limit
  (decision 2), bounded by an idle TTL per bucket;
- plain proactive triggers run tumbling windows from load time (decision 4); `after` needs an
  arming event (decision 3); early expected events are held (decision 5); proactive firings
  resolve when the expected event shows up (decision 7);
- `follows`: followers wait for their leader, or 15 minutes (§5.7);
- composites collect child firings in slots on processing time (§6);
- the loop guard pauses an automation triggered through its own consequences more than
  `loop_depth` times (decision 11, by causality: see lineage.py).

State changes are recorded in `dirty` as (kind, key) pairs so a caller can persist exactly
what changed (see `export`).
"""

from __future__ import annotations

import heapq
import itertools
import uuid
from collections import OrderedDict, deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..events.model import Event, uuid7
from ..events import lineage
from .buckets import BucketKey, Buckets
from .compiled import Compiled, Composite, Leaf, TriggerIndex
from ..firing import Firing
from .metrics import MetricEvaluator, MetricState
from .model import Automation, MetricTrigger
from .nearmiss import NearMisses
from .state import (
    DEFAULT_IDLE_TTL,
    HELD_TTL,
    LOOKBACK,
    MAX_FOLLOWER_DEPTH,
    REACTIVE_EXPIRY,
    SEEN_MAX,
    SEEN_TTL,
    Bucket,
    Follower,
    Held,
    OpenFiring,
    Slot,
)

def to_datetime(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class Engine:
    def __init__(self, *, idle_ttl: float = DEFAULT_IDLE_TTL,
                 loop_depth: int | None = lineage.DEFAULT_LOOP_DEPTH) -> None:
        self.idle_ttl = idle_ttl
        self.loop_depth = loop_depth
        self.now = 0.0
        self.automations: dict[str, Compiled] = {}
        self.leaves: dict[str, Leaf] = {}
        self.index = TriggerIndex()
        self.buckets = Buckets()
        self.slots: dict[str, dict[str, Slot]] = {}
        self.held: dict[BucketKey, list[Held]] = {}
        self.open_firings: dict[BucketKey, OpenFiring] = {}
        self.followers: dict[str, Follower] = {}
        #: leader id -> ids of the followers waiting for it
        self.waiting: dict[uuid.UUID, list[str]] = {}
        #: ids evaluated recently (for `follows` and duplicates), oldest first; keyed by the
        #: UUID's integer, whose hash is computed in C (a UUID's `__hash__` is Python code)
        self.seen: OrderedDict[int, float] = OrderedDict()
        self._seen_check = 0.0
        self.dirty: set[tuple[str, Any]] = set()
        #: automations the loop guard paused: (automation id, reason, the causal chain)
        self.paused: list[tuple[str, str, lineage.Chain]] = []
        self._heap: list[tuple[float, int, str, Any]] = []
        #: reactive windows' expiries by whole second. A reactive window is only forgotten at
        #: its deadline (no firing depends on the moment, and `_bucket` expires a due one when
        #: an event touches it), so a list slot per window does instead of a heap entry:
        #: ~100 bytes less for each of maybe a million open windows
        self._wheel: dict[int, list[Bucket]] = {}
        self._wheel_slots: list[int] = []
        self._wheel_size = 0
        self._held_expiry: deque[tuple[float, BucketKey]] = deque()
        self._open_limit = 10_000
        self._counter = itertools.count()
        self._out: list[Firing] = []
        #: metric triggers by automation id (decision 8; see metrics.py)
        self.metrics: dict[str, MetricEvaluator] = {}
        #: recent near-misses per automation (None: not recorded; see nearmiss.py)
        self.near_misses: NearMisses | None = None

    def record_near_misses(self, size: int) -> None:
        """Keep the last `size` near-misses per automation (0: record none, forget them)."""
        if size <= 0:
            self.near_misses = None
            return
        if self.near_misses is not None:
            self.near_misses.size = size
            return
        self.near_misses = NearMisses(size)
        for compiled in self.automations.values():
            if compiled.automation.enabled:
                for leaf in compiled.leaves:
                    self.near_misses.add(leaf)

    # -- automations -------------------------------------------------------------------------
    def load(self, automation: Automation, now: float) -> None:
        """Add or replace an automation (same trigger ids keep their state)."""
        assert automation.id is not None
        old = self.automations.get(automation.id)
        compiled = Compiled(automation)
        if old is not None:
            self._unindex(old)
            self._forget_state(old.trigger_ids - compiled.trigger_ids)
        self.automations[automation.id] = compiled
        for leaf in compiled.leaves:
            self.leaves[leaf.id] = leaf
        self._load_metric(automation)
        if automation.enabled:
            self._enable(compiled, max(self.now, now), fresh=old is None)

    def unload(self, automation_id: str) -> None:
        """Remove an automation and every piece of its state."""
        compiled = self.automations.pop(automation_id, None)
        if compiled is not None:
            self._unindex(compiled)
            self._forget_state(compiled.trigger_ids)
        if self.metrics.pop(automation_id, None) is not None:
            self.dirty.add(("metric", automation_id))
        if self.near_misses is not None:
            self.near_misses.forget(automation_id)

    def set_enabled(self, automation_id: str, enabled: bool, now: float) -> None:
        """Pause keeps window state; resume drops windows that ended meanwhile (they were not
        watched) and starts plain proactive windows afresh."""
        compiled = self.automations[automation_id]
        if compiled.automation.enabled == enabled:
            return
        compiled.automation.enabled = enabled
        if enabled:
            self._enable(compiled, max(self.now, now))
        else:
            self._unindex(compiled)

    def _enable(self, compiled: Compiled, now: float, fresh: bool = False) -> None:
        """Index the leaves and look at their windows; a `fresh` automation (new to this
        engine) has none, which spares a walk over every open bucket per automation."""
        leaf_ids = {leaf.id for leaf in compiled.leaves}
        for bucket in [] if fresh else [b for tid in leaf_ids for b in self.buckets.of_trigger(tid)]:
            if bucket.deadline <= now and not self.leaves[bucket.trigger_id].reactive:
                self._delete(bucket)
            else:
                self._schedule(bucket)
        if compiled.automation.id in self.metrics:
            self._check_metric(compiled.automation.id, now)
        for leaf in compiled.leaves:
            self.index.add(leaf)
            if self.near_misses is not None:
                self.near_misses.add(leaf)
            if leaf.tumbling and (leaf.id, ()) not in self.buckets:
                self._open(leaf, (), now, now + leaf.within, 0, None, now)

    def _unindex(self, compiled: Compiled) -> None:
        for leaf in compiled.leaves:
            self.index.remove(leaf)
            if self.near_misses is not None:
                self.near_misses.remove(leaf)

    def _forget_state(self, trigger_ids: set[str]) -> None:
        for tid in trigger_ids:
            for bucket in self.buckets.of_trigger(tid):
                del self.buckets[(tid, bucket.key)]
                self.dirty.add(("bucket", (tid, bucket.key)))
        for store, kind in ((self.held, "held"), (self.open_firings, "open")):
            for bkey in [k for k in store if k[0] in trigger_ids]:
                del store[bkey]
                self.dirty.add((kind, bkey))
        for tid in trigger_ids:
            self.leaves.pop(tid, None)
            if self.slots.pop(tid, None) is not None:
                self.dirty.add(("slots", tid))

    def enabled(self, automation_id: str) -> bool:
        compiled = self.automations.get(automation_id)
        return compiled is not None and compiled.automation.enabled

    # -- the two inputs: an event, and time ---------------------------------------------------
    def process(self, event: Event, now: float) -> list[Firing]:
        """Evaluate one event at processing time `now`; returns the root firings it caused
        (after any deadline that fell due before it)."""
        self._advance(now)
        eid = event.id.int
        if eid in self.seen:
            return self._take()
        leader = event.follows
        if leader is not None and leader.int != eid and leader.int not in self.seen:
            received = event.received.timestamp() if event.received else self.now
            if self.now - received < LOOKBACK:
                self._wait_for(leader, event, received + LOOKBACK)
                return self._take()
        self._handle(event, 0)
        return self._take()

    def process_all(self, events: list[Event], now: float) -> list[Firing]:
        """`process` for events that share the processing time `now` (one commit's).

        With no trigger or metric loaded and no follower waiting nothing can react, so the
        events are only remembered (for `follows` and duplicates): a daemon that tails logs
        before any automation exists pays a dict insert per event, not a full evaluation.
        """
        if self.leaves or self.metrics or self.waiting:
            return self._process_each(events, now)
        self._advance(now)
        seen = self.seen
        for i, event in enumerate(events):
            if event.follows is not None:  # may have to wait for its leader: the full path
                return self._take() + self._process_each(events[i:], now)
            seen[event.id.int] = self.now
        self._expire_caches()
        return self._take()

    def _process_each(self, events: list[Event], now: float) -> list[Firing]:
        return [firing for event in events for firing in self.process(event, now)]

    def advance(self, now: float) -> list[Firing]:
        """Move the clock to `now`, firing every deadline up to it in time order."""
        self._advance(now)
        return self._take()

    def next_deadline(self) -> float | None:
        """The earliest time `advance` has work to do (stale entries may wake it early)."""
        heap = self._heap
        while heap and not self._live(heap[0]):
            heapq.heappop(heap)
        due = [heap[0][0]] if heap else []
        if self._wheel_slots:
            due.append(float(self._wheel_slots[0]))
        return min(due, default=None)

    def _take(self) -> list[Firing]:
        out, self._out = self._out, []
        return out

    def _advance(self, now: float) -> None:
        self.now = max(self.now, now)
        heap = self._heap
        while heap and heap[0][0] <= self.now:
            entry = heapq.heappop(heap)
            if self._live(entry):
                self._due(entry)
        slots = self._wheel_slots
        while slots and slots[0] <= self.now:
            for bucket in self._wheel.pop(heapq.heappop(slots)):
                self._wheel_size -= 1
                if self._in_wheel(bucket) and bucket.deadline <= self.now:
                    self._bucket_due(self.leaves[bucket.trigger_id], bucket, bucket.deadline)
        self._expire_caches()

    def _live(self, entry: tuple[float, int, str, Any]) -> bool:
        at, _, kind, ref = entry
        if kind == "bucket":
            bucket = self.buckets.get((ref.trigger_id, ref.key))
            return bucket is ref and bucket.deadline == at and self.enabled(ref.automation_id)
        if kind == "metric":
            metric = self.metrics.get(ref)
            return metric is not None and metric.state.next_check == at and self.enabled(ref)
        follower = self.followers.get(ref)
        return follower is not None and follower.until == at

    def _in_wheel(self, bucket: Bucket) -> bool:
        """Whether a wheel entry is still the open window of an enabled automation."""
        return (self.buckets.get((bucket.trigger_id, bucket.key)) is bucket
                and self.enabled(bucket.automation_id))

    def _due(self, entry: tuple[float, int, str, Any]) -> None:
        at, _, kind, ref = entry
        if kind == "follower":
            follower = self.followers.pop(ref)
            self.dirty.add(("follower", ref))
            leader = follower.event.follows
            if ref in self.waiting.get(leader, ()):  # type: ignore[arg-type]
                self.waiting[leader].remove(ref)
            self._handle(follower.event, 0)
        elif kind == "metric":
            self._check_metric(ref, at)
        else:
            self._bucket_due(self.leaves[ref.trigger_id], ref, at)

    def _expire_caches(self) -> None:
        seen = self.seen
        if len(seen) > SEEN_MAX or self.now >= self._seen_check:
            # A full cache is trimmed a tenth below its bound, not by one id per event.
            keep, cutoff = SEEN_MAX - SEEN_MAX // 10, self.now - SEEN_TTL
            while seen and (len(seen) > keep or next(iter(seen.values())) < cutoff):
                seen.popitem(last=False)
            self._seen_check = (next(iter(seen.values())) if seen else self.now) + SEEN_TTL
        expiry = self._held_expiry
        while expiry and expiry[0][0] <= self.now:
            _, bkey = expiry.popleft()
            held = self.held.get(bkey)
            if held is not None:
                kept = [h for h in held if h.until > self.now]
                if len(kept) != len(held):
                    self._set_held(bkey, kept)

    # -- ordering (§5.7) ---------------------------------------------------------------------
    def _wait_for(self, leader: uuid.UUID, event: Event, until: float) -> None:
        eid = str(event.id)
        self.followers[eid] = Follower(event=event, until=until)
        self.waiting.setdefault(leader, []).append(eid)
        self.dirty.add(("follower", eid))
        self._push(until, "follower", eid)

    def restore_follower(self, follower: Follower) -> None:
        assert follower.event.follows is not None
        self._wait_for(follower.event.follows, follower.event, follower.until)

    def _handle(self, event: Event, depth: int) -> None:
        self.seen[event.id.int] = self.now
        self._evaluate(event)
        waiting = self.waiting.pop(event.id, None) if self.waiting else None
        if not waiting or depth >= MAX_FOLLOWER_DEPTH:
            return
        released = []
        for fid in waiting:
            follower = self.followers.pop(fid, None)
            if follower is not None:
                self.dirty.add(("follower", fid))
                released.append(follower.event)
        for follower_event in sorted(released, key=lambda e: e.occurred):
            self._handle(follower_event, depth + 1)

    # -- the reactive path (§5.2) -------------------------------------------------------------
    def _evaluate(self, event: Event) -> None:
        if self.metrics:
            self._metric_event(event)
        near = self.near_misses
        if near is not None:
            found = near.cache.get(event.event)
            if found is None or found:
                near.observe(event, found, self.now)
        candidates = self.index.candidates(event.event, event.resource["prefect.resource.id"])
        if not candidates:
            return
        occurred = event.occurred.timestamp()
        for leaf in candidates:
            if leaf.covers(event):
                self._on_event(leaf, event, occurred)
            elif near is not None and leaf.name_patterns is not None:
                near.record(leaf, event, self.now, "match")

    def _on_event(self, leaf: Leaf, event: Event, occurred: float) -> None:
        name = event.event
        key = leaf.key(event)
        bkey = (leaf.id, key)
        expected = leaf.expects(name)
        bucket = None
        if leaf.arms is not None and leaf.arms(name):
            old = self._bucket(leaf, bkey)
            if old is not None and leaf.reactive and leaf.within and occurred >= old.end:
                self._delete(old)  # "after means after": a new arming opens a new window
            bucket = self._ensure(leaf, key, occurred, occurred + leaf.within,
                                  -1 if expected else 0, event)
        elif leaf.arms is None and expected:
            bucket = self._ensure(leaf, key, occurred - LOOKBACK, occurred + leaf.within, 0,
                                  event)
        if not expected:
            return
        if not leaf.reactive and leaf.parent is None and bkey in self.open_firings:
            self._resolve(leaf, key, event)
        if bucket is None:
            bucket = self._bucket(leaf, bkey)
            if bucket is None:
                if not leaf.reactive and leaf.arms is not None:
                    self._hold(bkey, event)
                return
        self._check(leaf, bucket, occurred, event, self.now)

    def _ensure(self, leaf: Leaf, key: tuple[str, ...], start: float, end: float, count: int,
                event: Event) -> Bucket:
        """The existing bucket (only its last event updated), or a new one (§5.2)."""
        bucket = self._bucket(leaf, (leaf.id, key))
        if bucket is None:
            return self._open(leaf, key, start, end, count, event, self.now)
        if not leaf.reactive:
            bucket.last_event = event
        bucket.touched = self.now
        self.dirty.add(("bucket", (leaf.id, key)))
        return bucket

    def _bucket(self, leaf: Leaf, bkey: BucketKey) -> Bucket | None:
        """The open bucket for a key; a reactive one whose deadline passed while it waited in
        the wheel is expired first, as the heap would have done on time."""
        bucket = self.buckets.get(bkey)
        if bucket is not None and leaf.reactive and bucket.deadline <= self.now:
            self._bucket_due(leaf, bucket, bucket.deadline)
            bucket = self.buckets.get(bkey)
        return bucket

    def _check(self, leaf: Leaf, bucket: Bucket, now: float, event: Event | None,
               at: float) -> None:
        """Prefect's `evaluate` (§5.3): `now` is event time (or the deadline), `at` the
        processing time a firing is stamped with."""
        if now < bucket.start:
            return
        pending = event is not None
        if pending and (leaf.immediate or bucket.start <= now < bucket.end):
            bucket.count += 1
            if not leaf.reactive:
                bucket.last_event = event
            pending = False
            self.dirty.add(("bucket", (leaf.id, bucket.key)))
        ready = leaf.reactive or bucket.end <= now
        meets = bucket.count >= leaf.threshold if leaf.reactive else bucket.count < leaf.threshold
        if ready and meets:
            self._delete(bucket)
            self._fire_leaf(leaf, bucket.key, event or bucket.last_event, at,
                            (bucket.start, bucket.end))
        elif now < bucket.end:
            if (event is not None and not leaf.reactive and bucket.count >= leaf.threshold
                    and leaf.arms is not None and leaf.arms(event.event)):
                occurred = event.occurred.timestamp()
                self._delete(bucket)
                self._open(leaf, bucket.key, occurred, occurred + leaf.within, 0, event, at)
            return
        elif leaf.within == 0 and leaf.arms is None:
            return  # an unfired immediate bucket keeps counting (no time limit)
        else:
            self._delete(bucket)
        self._roll(leaf, bucket, now, event if pending else None, at)

    def _roll(self, leaf: Leaf, old: Bucket, now: float, pending: Event | None,
              at: float) -> None:
        """After a firing or a window's end: `after` waits for the next arming event; an
        immediate trigger starts over with the next event; others open the next window."""
        if leaf.arms is not None or leaf.within == 0:
            return
        if (not leaf.reactive and not leaf.tumbling and pending is None
                and at - old.touched >= self.idle_ttl):
            return  # an idle key of a proactive for_each trigger: forget it
        start = max(old.end, now)
        if pending is None and not leaf.reactive:
            start = self._catch_up_start(leaf, start)
        if leaf.reactive and pending is not None:
            bucket = self._open(leaf, old.key, start, start + leaf.within, 0, None, at)
            self._check(leaf, bucket, now, pending, at)
        else:
            self._open(leaf, old.key, start, start + leaf.within, 1 if pending else 0,
                       pending, old.touched if pending is None else at)

    def _bucket_due(self, leaf: Leaf, bucket: Bucket, at: float) -> None:
        """A bucket's deadline: a proactive window ends, a reactive one expires, or an idle
        bucket is forgotten."""
        if leaf.reactive:
            if leaf.within == 0 and bucket.touched + self.idle_ttl > at:
                bucket.deadline = bucket.touched + self.idle_ttl
                self._schedule(bucket)
            else:
                self._delete(bucket)
            return
        if bucket.count >= leaf.threshold:  # satisfied: nothing fires
            self._delete(bucket)
            if leaf.tumbling:
                # The next window follows at once even if the clock jumped past it: it had
                # no event, so it fires (once; the catch-up happens after that firing). Only
                # windows that can never fire (threshold <= 0) skip straight to now.
                start = bucket.end
                if leaf.threshold <= 0:
                    start = self._catch_up_start(leaf, start)
                self._open(leaf, (), start, start + leaf.within, 0, None, at)
            return
        self._check(leaf, bucket, bucket.end, None, at)

    def _catch_up_start(self, leaf: Leaf, start: float) -> float:
        """Where the next proactive window starts: right after the last one, unless that one
        too is already over (the clock jumped, e.g. after the daemon was down) — then now,
        so a long gap fires once rather than once per missed window."""
        return self.now if start + leaf.within < self.now else start

    # -- bucket bookkeeping ------------------------------------------------------------------
    def _open(self, leaf: Leaf, key: tuple[str, ...], start: float, end: float, count: int,
              event: Event | None, touched: float) -> Bucket:
        bucket = Bucket(automation_id=leaf.automation_id, trigger_id=leaf.id, key=key,
                        start=start, end=end, count=count, touched=touched,
                        last_event=None if leaf.reactive else event)
        bkey = (leaf.id, key)
        if not leaf.reactive and leaf.arms is not None and bkey in self.held:
            self._count_held(bucket, bkey)
        if not leaf.reactive:
            bucket.deadline = end
        elif leaf.within == 0:
            bucket.deadline = touched + self.idle_ttl
        else:
            bucket.deadline = end + REACTIVE_EXPIRY
        self.buckets[bkey] = bucket
        self.dirty.add(("bucket", bkey))
        self._schedule(bucket)
        return bucket

    def restore_buckets(self, restored: list[Bucket]) -> None:
        """Saved buckets of loaded triggers (others are skipped), maybe a million at once:
        their ids become the leaf's own strings (not two copies per bucket), and they are
        filed, scheduled and heaped per trigger in bulk rather than one at a time."""
        leaves = self.leaves
        by_leaf: dict[str, list[Bucket]] = {}
        for bucket in restored:
            group = by_leaf.get(bucket.trigger_id)
            if group is None:
                group = by_leaf[bucket.trigger_id] = []
            group.append(bucket)
        for trigger_id, group in by_leaf.items():
            leaf = leaves.get(trigger_id)
            if leaf is None:
                continue
            leaf_id, automation_id = leaf.id, leaf.automation_id
            for bucket in group:
                bucket.trigger_id, bucket.automation_id = leaf_id, automation_id
            self.buckets.add_many(leaf_id, group)
            if leaf.reactive:
                self._to_wheel(group)
            else:
                counter = self._counter
                self._heap.extend((b.deadline, next(counter), "bucket", b) for b in group)
        heapq.heapify(self._heap)

    def _delete(self, bucket: Bucket) -> None:
        bkey = (bucket.trigger_id, bucket.key)
        if self.buckets.get(bkey) is bucket:
            del self.buckets[bkey]
            self.dirty.add(("bucket", bkey))

    def _schedule(self, bucket: Bucket) -> None:
        if not self.leaves[bucket.trigger_id].reactive:
            self._push(bucket.deadline, "bucket", bucket)
            return
        self._to_wheel((bucket,))

    def _to_wheel(self, buckets: Sequence[Bucket]) -> None:
        """File reactive windows in the wheel's one-second slots (one, or a restore's many)."""
        wheel, slots = self._wheel, self._wheel_slots
        for bucket in buckets:
            slot = int(bucket.deadline) + 1
            entries = wheel.get(slot)
            if entries is None:
                entries = wheel[slot] = []
                heapq.heappush(slots, slot)
            entries.append(bucket)
        self._wheel_size += len(buckets)
        if self._wheel_size > 4 * len(self.buckets) + 10_000:
            # as with the heap: drop entries of replaced or rescheduled windows in one pass
            for at, kept in self._wheel.items():
                kept[:] = [b for b in kept if int(b.deadline) + 1 == at and self._in_wheel(b)]
            self._wheel_size = sum(len(kept) for kept in self._wheel.values())

    def _push(self, at: float, kind: str, ref: Any) -> None:
        heap = self._heap
        heapq.heappush(heap, (at, next(self._counter), kind, ref))
        if len(heap) > 4 * (len(self.buckets) + len(self.followers)) + 10_000:
            # Entries of replaced or deleted buckets stay until their time; drop them in one
            # pass once they outnumber the live ones (immediate buckets wait days).
            self._heap = [entry for entry in heap if self._live(entry)]
            heapq.heapify(self._heap)

    # -- held early events (decision 5) -----------------------------------------------------
    def _hold(self, bkey: BucketKey, event: Event) -> None:
        until = self.now + HELD_TTL
        self.held.setdefault(bkey, []).append(Held(event=event, until=until))
        self.dirty.add(("held", bkey))
        self._held_expiry.append((until, bkey))

    def restore_held(self, bkey: BucketKey, held: list[Held]) -> None:
        self.held[bkey] = held
        for h in held:
            self._held_expiry.append((h.until, bkey))

    def _count_held(self, bucket: Bucket, bkey: BucketKey) -> None:
        kept = []
        for h in self.held[bkey]:
            if bucket.start <= h.event.occurred.timestamp() < bucket.end:
                bucket.count += 1
            else:
                kept.append(h)
        self._set_held(bkey, kept)

    def _set_held(self, bkey: BucketKey, held: list[Held]) -> None:
        if held:
            self.held[bkey] = held
        else:
            self.held.pop(bkey, None)
        self.dirty.add(("held", bkey))

    # -- firing and composites (§6, §7) ------------------------------------------------------
    def _fire_leaf(self, leaf: Leaf, key: tuple[str, ...], event: Event | None,
                   at: float, window: tuple[float, float]) -> None:
        firing = Firing(id=str(uuid7()), automation_id=leaf.automation_id, trigger_id=leaf.id,
                        state="triggered", at=to_datetime(at), triggering_event=event,
                        triggering_labels=leaf.labels(key), window=window)
        if leaf.parent is not None:
            self._child_fired(leaf.parent, firing, at)
            return
        if self._emit(firing, at) and not leaf.reactive:
            bkey = (leaf.id, key)
            self.open_firings[bkey] = OpenFiring(automation_id=leaf.automation_id,
                                                 firing_id=firing.id, at=at)
            self.dirty.add(("open", bkey))
            if len(self.open_firings) > self._open_limit:
                self._forget_old_open_firings()

    def _forget_old_open_firings(self) -> None:
        """Unresolved firings older than the idle TTL will not resolve any more."""
        cutoff = self.now - self.idle_ttl
        for bkey in [k for k, o in self.open_firings.items() if o.at < cutoff]:
            del self.open_firings[bkey]
            self.dirty.add(("open", bkey))
        self._open_limit = max(10_000, 2 * len(self.open_firings))

    def _resolve(self, leaf: Leaf, key: tuple[str, ...], event: Event) -> None:
        bkey = (leaf.id, key)
        del self.open_firings[bkey]
        self.dirty.add(("open", bkey))
        self._out.append(Firing(
            id=str(uuid7()), automation_id=leaf.automation_id, trigger_id=leaf.id,
            state="resolved", at=to_datetime(self.now), triggering_event=event,
            triggering_labels=leaf.labels(key)))

    def _child_fired(self, parent: Composite, child: Firing, at: float) -> None:
        if parent.fires_on_one:
            self._fire_composite(parent, [child], child, at)
            return
        slots = self.slots.setdefault(parent.id, {})
        ready = parent.offer(slots, child, at, next(self._counter))
        self.dirty.add(("slots", parent.id))
        if ready is not None:
            del self.slots[parent.id]
            self._fire_composite(parent, ready, child, at)

    def _fire_composite(self, node: Composite, children: list[Firing], current: Firing,
                        at: float) -> None:
        firing = Firing(id=str(uuid7()), automation_id=node.automation_id, trigger_id=node.id,
                        state="triggered", at=to_datetime(at),
                        triggering_event=current.triggering_event,
                        triggering_firings=children)
        if node.parent is not None:
            self._child_fired(node.parent, firing, at)
        else:
            self._emit(firing, at)

    def restore_slots(self, parent_id: str, slots: dict[str, Slot]) -> None:
        self.slots[parent_id] = slots

    def _emit(self, firing: Firing, at: float) -> bool:
        """Hand out a root firing, unless the loop guard pauses its automation instead: when
        the events that led here already passed through it `loop_depth` times."""
        aid = firing.automation_id
        if self.loop_depth is not None:
            chain = lineage.chain_of(firing.triggering_event)
            if chain.count(aid) >= self.loop_depth:
                self.set_enabled(aid, False, at)
                reason = (f"triggered through its own actions' events {chain.count(aid)} times "
                          "in a row; paused by the loop guard (see the chain; raise [engine] "
                          "loop_depth if this is intended)")
                self.paused.append((aid, reason, (*chain, aid)))
                return False
        self._out.append(firing)
        return True

    # -- persistence -------------------------------------------------------------------------
    def take_dirty(self) -> set[tuple[str, Any]]:
        dirty, self.dirty = self.dirty, set()
        return dirty

    def export(self, kind: str, key: Any) -> Any:
        """The current record for a dirty (kind, key), or None if it is gone."""
        if kind == "bucket":
            return self.buckets.get(key)
        if kind == "slots":
            return self.slots.get(key)
        if kind == "held":
            return self.held.get(key)
        if kind == "open":
            return self.open_firings.get(key)
        if kind == "metric":
            metric = self.metrics.get(key)
            return metric.state if metric is not None else None
        return self.followers.get(key)

    def restore_open(self, bkey: BucketKey, record: OpenFiring) -> None:
        self.open_firings[bkey] = record

    # -- metric triggers (decision 8) ------------------------------------------------------------
    def _load_metric(self, automation: Automation) -> None:
        """Start (or keep, for the same trigger id) the metric state of an automation."""
        aid = automation.id
        assert aid is not None
        old = self.metrics.pop(aid, None)
        trigger = automation.trigger
        if not isinstance(trigger, MetricTrigger):
            if old is not None:
                self.dirty.add(("metric", aid))
            return
        state = old.state if old is not None and old.state.trigger_id == trigger.id else None
        self.metrics[aid] = MetricEvaluator(aid, trigger, state)
        self.dirty.add(("metric", aid))

    def _metric_event(self, event: Event) -> None:
        for aid, metric in self.metrics.items():
            if self.enabled(aid) and metric.observe(event):
                self._check_metric(aid, self.now)

    def _check_metric(self, aid: str, at: float) -> None:
        metric = self.metrics[aid]
        before = metric.state.next_check
        firing = metric.evaluate(at)
        self.dirty.add(("metric", aid))
        if firing is not None:
            self._emit(firing, at)
        after = metric.state.next_check
        if after is not None and (after != before or before is None or before <= at):
            self._push(after, "metric", aid)

    def restore_metric(self, state: MetricState) -> None:
        metric = self.metrics.get(state.automation_id)
        if metric is not None and metric.trigger.id == state.trigger_id:
            metric.state = state
            if state.next_check is not None:
                self._push(state.next_check, "metric", state.automation_id)
