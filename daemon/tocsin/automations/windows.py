"""Event triggers' windows (§5.2–§5.4, decisions 2–7): count, arm, fire, expire.

One bucket per trigger and bucketing key: a reactive window fires as soon as its threshold
is met; a proactive one at its deadline if too few expected events came (then stays open as
an unresolved firing until one does). This is the largest part of the engine, kept apart
from the rest of it: `Engine` inherits it, and supplies how a leaf's firing goes on
(`_child_fired` into its compound or sequence, `_emit` to the host).
"""

from __future__ import annotations

from collections.abc import Callable

from ..events.model import Event, uuid7
from ..firing import Firing
from .buckets import BucketKey
from .clock import to_datetime
from .compiled import Composite, Leaf
from .deadlines import Due
from .state import LOOKBACK, REACTIVE_EXPIRY, Bucket, OpenFiring, RecordKind
from .view import EngineView

BUCKET, OPEN = RecordKind.BUCKET, RecordKind.OPEN


class EventWindows(EngineView):
    _out: list[Firing]
    _open_limit: int
    #: provided by Engine: a child firing goes to its composite, a root firing to the host
    _child_fired: Callable[[Composite, Firing, float], None]
    _emit: Callable[[Firing, float], bool]

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
        if not leaf.reactive and leaf.parent is None and bkey in self._open_firings:
            self._resolve(leaf, key, event)
        if bucket is None:
            bucket = self._bucket(leaf, bkey)
            if bucket is None:
                if not leaf.reactive and leaf.arms is not None:
                    self._held.hold(bkey, event, self._now)
                return
        self._check(leaf, bucket, occurred, event, self._now)

    def _ensure(self, leaf: Leaf, key: tuple[str, ...], start: float, end: float, count: int,
                event: Event) -> Bucket:
        """The existing bucket (only its last event updated), or a new one (§5.2)."""
        bucket = self._bucket(leaf, (leaf.id, key))
        if bucket is None:
            return self._open(leaf, key, start, end, count, event, self._now)
        if not leaf.reactive:
            bucket.last_event = event
        bucket.touched = self._now
        self._dirty.add((BUCKET, (leaf.id, key)))
        return bucket

    def _bucket(self, leaf: Leaf, bkey: BucketKey) -> Bucket | None:
        """The open bucket for a key; a reactive one whose deadline passed while it waited in
        the wheel is expired first, as the heap would have done on time."""
        bucket = self._buckets.get(bkey)
        if bucket is not None and leaf.reactive and bucket.deadline <= self._now:
            self._bucket_due(leaf, bucket, bucket.deadline)
            bucket = self._buckets.get(bkey)
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
            self._dirty.add((BUCKET, (leaf.id, bucket.key)))
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
                and at - old.touched >= self._idle_ttl):
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
            if leaf.within == 0 and bucket.touched + self._idle_ttl > at:
                bucket.deadline = bucket.touched + self._idle_ttl
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
        return self._now if start + leaf.within < self._now else start

    # -- bucket bookkeeping ------------------------------------------------------------------
    def _open(self, leaf: Leaf, key: tuple[str, ...], start: float, end: float, count: int,
              event: Event | None, touched: float) -> Bucket:
        bucket = Bucket(automation_id=leaf.automation_id, trigger_id=leaf.id, key=key,
                        start=start, end=end, count=count, touched=touched,
                        last_event=None if leaf.reactive else event)
        bkey = (leaf.id, key)
        if not leaf.reactive and leaf.arms is not None and bkey in self._held:
            self._held.count_into(bucket, bkey)
        if not leaf.reactive:
            bucket.deadline = end
        elif leaf.within == 0:
            bucket.deadline = touched + self._idle_ttl
        else:
            bucket.deadline = end + REACTIVE_EXPIRY
        self._buckets[bkey] = bucket
        self._dirty.add((BUCKET, bkey))
        self._schedule(bucket)
        return bucket

    def _delete(self, bucket: Bucket) -> None:
        bkey = (bucket.trigger_id, bucket.key)
        if self._buckets.get(bkey) is bucket:
            del self._buckets[bkey]
            self._dirty.add((BUCKET, bkey))

    def _schedule(self, bucket: Bucket) -> None:
        if not self._leaves[bucket.trigger_id].reactive:
            self._deadlines.push(bucket.deadline, Due.BUCKET, bucket)
        else:
            self._deadlines.to_wheel((bucket,))

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
            self._open_firings[bkey] = OpenFiring(automation_id=leaf.automation_id,
                                                  firing_id=firing.id, at=at)
            self._dirty.add((OPEN, bkey))
            if len(self._open_firings) > self._open_limit:
                self._forget_old_open_firings()

    def _forget_old_open_firings(self) -> None:
        """Unresolved firings older than the idle TTL will not resolve any more."""
        cutoff = self._now - self._idle_ttl
        for bkey in [k for k, o in self._open_firings.items() if o.at < cutoff]:
            del self._open_firings[bkey]
            self._dirty.add((OPEN, bkey))
        self._open_limit = max(10_000, 2 * len(self._open_firings))

    def _resolve(self, leaf: Leaf, key: tuple[str, ...], event: Event) -> None:
        bkey = (leaf.id, key)
        del self._open_firings[bkey]
        self._dirty.add((OPEN, bkey))
        self._out.append(Firing(
            id=str(uuid7()), automation_id=leaf.automation_id, trigger_id=leaf.id,
            state="resolved", at=to_datetime(self._now), triggering_event=event,
            triggering_labels=leaf.labels(key)))

