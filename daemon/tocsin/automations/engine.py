"""The trigger engine: pure evaluation of automations over events and time (DESIGN rule 1).

State in, an event or a clock tick in, new state and firings out. The engine never reads
the wall clock: every call carries `now` (processing time: an event's `received` live, the
virtual clock in replay). Windows are kept in event time (`occurred`) as Prefect does.

What it does, following prefect-semantics §5–§6 and "tocsin's decisions":

- reactive windows, `after` arming, counting, eager firing and cool-down (§5.2–§5.4);
- proactive windows fire at their deadline (deadlines.py: `next_deadline()` tells the host
  when to call `advance`, decision 1) — `within: 0` has no time limit (decision 2), bounded
  by an idle TTL per bucket;
- plain proactive triggers run tumbling windows from load time (decision 4); `after` needs an
  arming event (decision 3); early expected events are held (decision 5, held.py); proactive
  firings resolve when the expected event shows up (decision 7);
- `follows`: followers wait for their leader, or 15 minutes (§5.7, followers.py);
- composites collect child firings in slots on processing time (§6);
- the loop guard pauses an automation triggered through its own consequences (loopguard.py).

The host's interface, all of it (reads are in view.py):

- configure: `configure`, `record_near_misses`;
- automations: `load`, `unload`, `set_enabled`;
- input: `process`, `process_all` (events), `advance` and `next_deadline` (time);
- output besides firings: `take_changes` (the state records to persist), `take_paused`
  (automations the loop guard paused);
- restart: `restore_clock`, `restore_buckets`, `restore`, `restore_seen`;
- trying an event without consequences: `scratch_copy`.
"""

from __future__ import annotations

import itertools
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import msgspec

from ..events import lineage
from ..events.model import Event, uuid7
from ..firing import Firing
from .buckets import BucketKey, Buckets
from .clock import to_datetime
from .compiled import Compiled, Composite, Leaf, TriggerIndex
from .deadlines import Deadlines, Due, Entry
from .followers import Followers
from .held import HeldEvents
from .loopguard import LoopGuard, LoopPause
from .metrics import MetricEvaluator, MetricState
from .model import Automation, MetricTrigger
from .nearmiss import NearMisses
from .state import (
    DEFAULT_IDLE_TTL,
    LOOKBACK,
    MAX_FOLLOWER_DEPTH,
    SEEN_MAX,
    SEEN_TTL,
    Bucket,
    OpenFiring,
    RecordKind,
    Slot,
    StateChange,
)
from .windows import EventWindows

BUCKET, SLOTS, OPEN, METRIC = (RecordKind.BUCKET, RecordKind.SLOTS, RecordKind.OPEN,
                               RecordKind.METRIC)


class Engine(EventWindows):
    def __init__(self, *, idle_ttl: float = DEFAULT_IDLE_TTL,
                 loop_depth: int | None = lineage.DEFAULT_LOOP_DEPTH) -> None:
        self._idle_ttl = idle_ttl
        self._guard = LoopGuard(loop_depth)
        self._now = 0.0
        self._automations: dict[str, Compiled] = {}
        self._leaves: dict[str, Leaf] = {}
        self._index = TriggerIndex()
        self._buckets = Buckets()
        self._dirty: set[tuple[RecordKind, Any]] = set()
        self._slots: dict[str, dict[str, Slot]] = {}
        self._held = HeldEvents(self._dirty)
        self._open_firings: dict[BucketKey, OpenFiring] = {}
        self._open_limit = 10_000
        self._followers = Followers(self._dirty)
        #: ids evaluated recently (for `follows` and duplicates), oldest first; keyed by the
        #: UUID's integer, whose hash is computed in C (a UUID's `__hash__` is Python code)
        self._seen: OrderedDict[int, float] = OrderedDict()
        self._seen_check = 0.0
        self._paused: list[LoopPause] = []
        self._deadlines = Deadlines(self._live, self._in_wheel,
                                    lambda: len(self._buckets) + len(self._followers))
        self._slot_seq = itertools.count()
        self._out: list[Firing] = []
        #: metric triggers by automation id (decision 8; see metrics.py)
        self._metrics: dict[str, MetricEvaluator] = {}
        #: recent near-misses per automation (None: not recorded; see nearmiss.py)
        self._near_misses: NearMisses | None = None

    def configure(self, *, idle_ttl: float, loop_depth: int | None, near_misses: int) -> None:
        """The `[engine]` settings: idle TTL, loop guard depth (None: off), near-miss ring."""
        self._idle_ttl = idle_ttl
        self._guard.depth = loop_depth
        self.record_near_misses(near_misses)

    def record_near_misses(self, size: int) -> None:
        """Keep the last `size` near-misses per automation (0: record none, forget them)."""
        if size <= 0:
            self._near_misses = None
            self._index.near_of(None)
            return
        if self._near_misses is not None:
            self._near_misses.size = size
            return
        self._near_misses = NearMisses(size)
        for compiled in self._automations.values():
            if compiled.automation.enabled:
                for leaf in compiled.leaves:
                    self._near_misses.add(leaf)
        self._index.near_of(self._near_misses.near)

    # -- automations -------------------------------------------------------------------------
    def load(self, automation: Automation, now: float) -> None:
        """Add or replace an automation (same trigger ids keep their state)."""
        assert automation.id is not None
        old = self._automations.get(automation.id)
        compiled = Compiled(automation)
        if old is not None:
            self._unindex(old)
            self._forget_state(old.trigger_ids - compiled.trigger_ids)
        self._automations[automation.id] = compiled
        for leaf in compiled.leaves:
            self._leaves[leaf.id] = leaf
        self._load_metric(automation)
        if automation.enabled:
            self._enable(compiled, max(self._now, now), fresh=old is None)

    def unload(self, automation_id: str) -> None:
        """Remove an automation and every piece of its state."""
        compiled = self._automations.pop(automation_id, None)
        if compiled is not None:
            self._unindex(compiled)
            self._forget_state(compiled.trigger_ids)
        if self._metrics.pop(automation_id, None) is not None:
            self._dirty.add((METRIC, automation_id))
        if self._near_misses is not None:
            self._near_misses.forget(automation_id)

    def set_enabled(self, automation_id: str, enabled: bool, now: float) -> None:
        """Pause keeps window state; resume drops windows that ended meanwhile (they were not
        watched) and starts plain proactive windows afresh."""
        compiled = self._automations[automation_id]
        if compiled.automation.enabled == enabled:
            return
        compiled.automation.enabled = enabled
        if enabled:
            self._enable(compiled, max(self._now, now))
        else:
            self._unindex(compiled)

    def _enable(self, compiled: Compiled, now: float, fresh: bool = False) -> None:
        """Index the leaves and look at their windows; a `fresh` automation (new to this
        engine) has none, which spares a walk over every open bucket per automation."""
        leaf_ids = {leaf.id for leaf in compiled.leaves}
        for bucket in [] if fresh else [b for tid in leaf_ids for b in self._buckets.of_trigger(tid)]:
            if bucket.deadline <= now and not self._leaves[bucket.trigger_id].reactive:
                self._delete(bucket)
            else:
                self._schedule(bucket)
        if compiled.automation.id in self._metrics:
            self._check_metric(compiled.automation.id, now)
        for leaf in compiled.leaves:
            self._index.add(leaf)
            if self._near_misses is not None:
                self._near_misses.add(leaf)
            if leaf.tumbling and (leaf.id, ()) not in self._buckets:
                self._open(leaf, (), now, now + leaf.within, 0, None, now)

    def _unindex(self, compiled: Compiled) -> None:
        for leaf in compiled.leaves:
            self._index.remove(leaf)
            if self._near_misses is not None:
                self._near_misses.remove(leaf)

    def _forget_state(self, trigger_ids: set[str]) -> None:
        for tid in trigger_ids:
            for bucket in self._buckets.of_trigger(tid):
                del self._buckets[(tid, bucket.key)]
                self._dirty.add((BUCKET, (tid, bucket.key)))
        self._held.forget(trigger_ids)
        for bkey in [k for k in self._open_firings if k[0] in trigger_ids]:
            del self._open_firings[bkey]
            self._dirty.add((OPEN, bkey))
        for tid in trigger_ids:
            self._leaves.pop(tid, None)
            if self._slots.pop(tid, None) is not None:
                self._dirty.add((SLOTS, tid))

    # -- the two inputs: an event, and time ---------------------------------------------------
    def process(self, event: Event, now: float) -> list[Firing]:
        """Evaluate one event at processing time `now`; returns the root firings it caused
        (after any deadline that fell due before it)."""
        self._advance(now)
        eid = event.id.int
        if eid in self._seen:
            return self._take()
        leader = event.follows
        if leader is not None and leader.int != eid and leader.int not in self._seen:
            received = event.received.timestamp() if event.received else self._now
            if self._now - received < LOOKBACK:
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
        if self._leaves or self._metrics or self._followers.waiting:
            return self._process_each(events, now)
        self._advance(now)
        seen = self._seen
        for i, event in enumerate(events):
            if event.follows is not None:  # may have to wait for its leader: the full path
                return self._take() + self._process_each(events[i:], now)
            seen[event.id.int] = self._now
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
        return self._deadlines.next()

    def _take(self) -> list[Firing]:
        out, self._out = self._out, []
        return out

    def _advance(self, now: float) -> None:
        self._now = now = max(self._now, now)
        heap, slots = self._deadlines.heap, self._deadlines.wheel_slots
        if (heap and heap[0][0] <= now) or (slots and slots[0] <= now):  # most events: no
            self._fire_due(now)
        self._expire_caches()

    def _fire_due(self, now: float) -> None:
        deadlines = self._deadlines
        while (entry := deadlines.pop(now)) is not None:
            self._due(entry)
        while (entries := deadlines.pop_wheel(now)) is not None:
            for bucket in entries:
                if self._in_wheel(bucket) and bucket.deadline <= now:
                    self._bucket_due(self._leaves[bucket.trigger_id], bucket, bucket.deadline)

    def _live(self, entry: Entry) -> bool:
        at, _, kind, ref = entry
        if kind is Due.BUCKET:
            bucket = self._buckets.get((ref.trigger_id, ref.key))
            return bucket is ref and bucket.deadline == at and self.enabled(ref.automation_id)
        if kind is Due.METRIC:
            metric = self._metrics.get(ref)
            return metric is not None and metric.state.next_check == at and self.enabled(ref)
        follower = self._followers.by_id.get(ref)
        return follower is not None and follower.until == at

    def _in_wheel(self, bucket: Bucket) -> bool:
        """Whether a wheel entry is still the open window of an enabled automation."""
        return (self._buckets.get((bucket.trigger_id, bucket.key)) is bucket
                and self.enabled(bucket.automation_id))

    def _due(self, entry: Entry) -> None:
        at, _, kind, ref = entry
        if kind is Due.FOLLOWER:
            self._handle(self._followers.give_up(ref), 0)
        elif kind is Due.METRIC:
            self._check_metric(ref, at)
        else:
            self._bucket_due(self._leaves[ref.trigger_id], ref, at)

    def _expire_caches(self) -> None:
        seen = self._seen
        if len(seen) > SEEN_MAX or self._now >= self._seen_check:
            # A full cache is trimmed a tenth below its bound, not by one id per event.
            keep, cutoff = SEEN_MAX - SEEN_MAX // 10, self._now - SEEN_TTL
            while seen and (len(seen) > keep or next(iter(seen.values())) < cutoff):
                seen.popitem(last=False)
            self._seen_check = (next(iter(seen.values())) if seen else self._now) + SEEN_TTL
        expiry = self._held.expiry
        if expiry and expiry[0][0] <= self._now:
            self._held.expire(self._now)

    # -- ordering (§5.7) ---------------------------------------------------------------------
    def _wait_for(self, leader: uuid.UUID, event: Event, until: float) -> None:
        self._deadlines.push(until, Due.FOLLOWER, self._followers.wait(leader, event, until))

    def _handle(self, event: Event, depth: int) -> None:
        self._seen[event.id.int] = self._now
        self._evaluate(event)
        if self._followers.waiting:
            for follower in self._followers.release(event.id, depth >= MAX_FOLLOWER_DEPTH):
                self._handle(follower, depth + 1)

    # -- the reactive path (§5.2) -------------------------------------------------------------
    def _evaluate(self, event: Event) -> None:
        if self._metrics:
            self._metric_event(event)
        candidates, close = self._index.lookup(event.event, event.resource["prefect.resource.id"])
        near = self._near_misses
        if close and near is not None:
            near.observe(event, close, self._now)
        if not candidates:
            return
        occurred = event.occurred.timestamp()
        for leaf in candidates:
            if leaf.covers(event):
                self._on_event(leaf, event, occurred)
            elif near is not None and leaf.name_patterns is not None:
                near.record(leaf, event, self._now, "match")

    # -- composites (§6) and the loop guard ---------------------------------------------------
    def _child_fired(self, parent: Composite, child: Firing, at: float) -> None:
        if parent.fires_on_one:
            self._fire_composite(parent, [child], child, at)
            return
        slots = self._slots.setdefault(parent.id, {})
        ready = parent.offer(slots, child, at, next(self._slot_seq))
        self._dirty.add((SLOTS, parent.id))
        if ready is not None:
            del self._slots[parent.id]
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

    def _emit(self, firing: Firing, at: float) -> bool:
        """Hand out a root firing, unless the loop guard pauses its automation instead."""
        pause = self._guard.check(firing)
        if pause is not None:
            self.set_enabled(firing.automation_id, False, at)
            self._paused.append(pause)
            return False
        self._out.append(firing)
        return True

    def take_paused(self) -> list[LoopPause]:
        """The automations the loop guard paused since the last call (the host stores them
        as disabled and says why)."""
        paused, self._paused = self._paused, []
        return paused

    # -- metric triggers (decision 8) ------------------------------------------------------------
    def _load_metric(self, automation: Automation) -> None:
        """Start (or keep, for the same trigger id) the metric state of an automation."""
        aid = automation.id
        assert aid is not None
        old = self._metrics.pop(aid, None)
        trigger = automation.trigger
        if not isinstance(trigger, MetricTrigger):
            if old is not None:
                self._dirty.add((METRIC, aid))
            return
        state = old.state if old is not None and old.state.trigger_id == trigger.id else None
        self._metrics[aid] = MetricEvaluator(aid, trigger, state)
        self._dirty.add((METRIC, aid))

    def _metric_event(self, event: Event) -> None:
        for aid, metric in self._metrics.items():
            if self.enabled(aid) and metric.observe(event):
                self._check_metric(aid, self._now)

    def _check_metric(self, aid: str, at: float) -> None:
        metric = self._metrics[aid]
        before = metric.state.next_check
        firing = metric.evaluate(at)
        self._dirty.add((METRIC, aid))
        if firing is not None:
            self._emit(firing, at)
        after = metric.state.next_check
        if after is not None and (after != before or before is None or before <= at):
            self._deadlines.push(after, Due.METRIC, aid)

    # -- persistence and restart ---------------------------------------------------------------
    def take_changes(self) -> list[StateChange]:
        """Every state record changed since the last call, as it is now (None: gone)."""
        changes = []
        for kind, key in self._dirty:
            record = self._record(kind, key)
            owner = self._owner(kind, key, record) if record is not None else ""
            changes.append(StateChange(kind, key, owner, record))
        self._dirty.clear()
        return changes

    def restore_clock(self, now: float) -> None:
        """Start from a saved clock (before loading automations into a restarted engine)."""
        self._now = now

    def restore_buckets(self, restored: list[Bucket]) -> None:
        """Saved buckets of loaded triggers (others are skipped), maybe a million at once:
        their ids become the leaf's own strings (not two copies per bucket), and they are
        filed, scheduled and heaped per trigger in bulk rather than one at a time."""
        by_leaf: dict[str, list[Bucket]] = {}
        for bucket in restored:
            group = by_leaf.get(bucket.trigger_id)
            if group is None:
                group = by_leaf[bucket.trigger_id] = []
            group.append(bucket)
        proactive: list[Bucket] = []
        for trigger_id, group in by_leaf.items():
            leaf = self._leaves.get(trigger_id)
            if leaf is None:
                continue
            leaf_id, automation_id = leaf.id, leaf.automation_id
            for bucket in group:
                bucket.trigger_id, bucket.automation_id = leaf_id, automation_id
            self._buckets.add_many(leaf_id, group)
            if leaf.reactive:
                self._deadlines.to_wheel(group)
            else:
                proactive.extend(group)
        self._deadlines.push_buckets(proactive)

    def restore(self, records: Iterable[tuple[RecordKind, Any, Any]]) -> None:
        """Saved records other than buckets, (kind, key, record), into an engine whose
        automations are loaded. Afterwards nothing counts as changed: it is all saved."""
        for kind, key, record in records:
            if kind is RecordKind.SLOTS:
                self._slots[key] = record
            elif kind is RecordKind.HELD:
                self._held.restore(key, record)
            elif kind is RecordKind.OPEN:
                self._open_firings[key] = record
            elif kind is RecordKind.METRIC:
                self._restore_metric(record)
            elif kind is RecordKind.FOLLOWER:
                self._wait_for(record.event.follows, record.event, record.until)
        self._dirty.clear()

    def _restore_metric(self, state: MetricState) -> None:
        metric = self._metrics.get(state.automation_id)
        if metric is not None and metric.trigger.id == state.trigger_id:
            metric.state = state
            if state.next_check is not None:
                self._deadlines.push(state.next_check, Due.METRIC, state.automation_id)

    def restore_seen(self, event_ids: Iterable[uuid.UUID], at: float) -> None:
        """Event ids evaluated before the restart, oldest first: seen again, they are
        duplicates."""
        for eid in event_ids:
            self._seen[eid.int] = at

    def scratch_copy(self, automation_id: str) -> Engine:
        """An engine holding one automation and a copy of its state, at this engine's time,
        with the loop guard off: what an event would do, tried there, changes nothing here."""
        compiled = self._automations[automation_id]
        ids = compiled.trigger_ids
        copy = Engine(idle_ttl=self._idle_ttl, loop_depth=None)
        copy._now = self._now
        copy.load(compiled.automation, self._now)  # first: restored buckets need their leaves
        copy.restore_buckets([msgspec.structs.replace(bucket)
                              for leaf in compiled.leaves
                              for bucket in self._buckets.of_trigger(leaf.id)])
        copy._slots = {tid: dict(slots) for tid, slots in self._slots.items() if tid in ids}
        for bkey, held in self._held.by_key.items():
            if bkey[0] in ids:
                copy._held.by_key[bkey] = list(held)
        copy._open_firings = {k: o for k, o in self._open_firings.items() if k[0] in ids}
        return copy
