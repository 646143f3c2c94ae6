"""The engine's read-only side: what its host, the API and the explainer may look at.

`Engine` inherits these queries; code that only reads (the explainer, `/state`, traces)
takes an `EngineView`, so it cannot change what it looks at. Records are handed out as the
engine holds them (not copies): callers must not modify them.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from .buckets import BucketKey, Buckets
from .compiled import Compiled, Leaf
from .deadlines import Deadlines
from .followers import Followers
from .held import HeldEvents
from .metrics import MetricEvaluator
from .nearmiss import NearMiss, NearMisses
from .state import Bucket, Held, OpenFiring, RecordKind, Slot


class Window(NamedTuple):
    """An open window (bucket) and the trigger it belongs to."""

    leaf: Leaf
    bucket: Bucket


class EngineStats(NamedTuple):
    """How much the engine holds (for `/health` and tests of its bounds)."""

    automations: int
    buckets: int
    followers: int
    composite_slots: int
    held: int
    open_firings: int
    heap: int
    wheel: int


class EngineView:
    _now: float
    _idle_ttl: float
    _automations: dict[str, Compiled]
    _leaves: dict[str, Leaf]
    _buckets: Buckets
    _slots: dict[str, dict[str, Slot]]
    _held: HeldEvents
    _open_firings: dict[BucketKey, OpenFiring]
    _followers: Followers
    _seen: OrderedDict[int, float]
    _metrics: dict[str, MetricEvaluator]
    _near_misses: NearMisses | None
    _deadlines: Deadlines
    _dirty: set[tuple[RecordKind, Any]]

    @property
    def now(self) -> float:
        """The engine's clock (processing time): the latest `now` it was given."""
        return self._now

    @property
    def idle_ttl(self) -> float:
        return self._idle_ttl

    @property
    def has_changes(self) -> bool:
        """Whether `take_changes` has something to hand out."""
        return bool(self._dirty)

    # -- automations and their compiled triggers ----------------------------------------------
    def enabled(self, automation_id: str) -> bool:
        compiled = self._automations.get(automation_id)
        return compiled is not None and compiled.automation.enabled

    def compiled(self, automation_id: str) -> Compiled | None:
        return self._automations.get(automation_id)

    def loaded(self) -> list[Compiled]:
        return list(self._automations.values())

    def leaf(self, trigger_id: str) -> Leaf | None:
        return self._leaves.get(trigger_id)

    def leaves(self, automation_id: str) -> dict[str, Leaf]:
        """An automation's event triggers by id (none if it is not loaded)."""
        compiled = self._automations.get(automation_id)
        return {leaf.id: leaf for leaf in compiled.leaves} if compiled is not None else {}

    # -- state ----------------------------------------------------------------------------------
    def bucket(self, bkey: BucketKey) -> Bucket | None:
        return self._buckets.get(bkey)

    def windows(self, automation_id: str) -> list[Window]:
        """The automation's open windows, trigger by trigger."""
        compiled = self._automations.get(automation_id)
        return [Window(leaf, bucket) for leaf in (compiled.leaves if compiled else ())
                for bucket in self._buckets.of_trigger(leaf.id)]

    def slots(self, composite_id: str) -> Mapping[str, Slot]:
        """A compound or sequence trigger's stored child firings, by child trigger id."""
        return self._slots.get(composite_id, {})

    def open_firing(self, bkey: BucketKey) -> OpenFiring | None:
        return self._open_firings.get(bkey)

    def open_firings(self, automation_id: str) -> list[OpenFiring]:
        return [o for o in self._open_firings.values() if o.automation_id == automation_id]

    def held(self, bkey: BucketKey) -> Sequence[Held]:
        return self._held.by_key.get(bkey, ())

    def held_count(self, automation_id: str) -> int:
        """How many early events the automation's triggers hold."""
        ids = self.leaves(automation_id)
        return sum(len(h) for (tid, _), h in self._held.by_key.items() if tid in ids)

    def has_seen(self, event_id: uuid.UUID) -> bool:
        """Whether the event was evaluated lately (a second time it is ignored)."""
        return event_id.int in self._seen

    def metric(self, automation_id: str) -> MetricEvaluator | None:
        return self._metrics.get(automation_id)

    @property
    def records_near_misses(self) -> bool:
        return self._near_misses is not None

    def near_misses(self, automation_id: str) -> list[NearMiss]:
        """The automation's recent near-misses, oldest first (none when not recorded)."""
        near = self._near_misses
        return list(near.rings.get(automation_id, ())) if near is not None else []

    def stats(self) -> EngineStats:
        return EngineStats(
            automations=len(self._automations), buckets=len(self._buckets),
            followers=len(self._followers), composite_slots=len(self._slots),
            held=len(self._held.by_key), open_firings=len(self._open_firings),
            heap=self._deadlines.heap_size, wheel=self._deadlines.wheel_size)

    def _record(self, kind: RecordKind, key: Any) -> Any:
        """The current record for a changed (kind, key), or None if it is gone."""
        if kind is RecordKind.BUCKET:
            return self._buckets.get(key)
        if kind is RecordKind.SLOTS:
            return self._slots.get(key)
        if kind is RecordKind.HELD:
            return self._held.by_key.get(key)
        if kind is RecordKind.OPEN:
            return self._open_firings.get(key)
        if kind is RecordKind.METRIC:
            metric = self._metrics.get(key)
            return metric.state if metric is not None else None
        return self._followers.by_id.get(key)

    def _owner(self, kind: RecordKind, key: Any, record: Any) -> str:
        """The automation a present record belongs to ("" for a follower: none yet)."""
        if kind in (RecordKind.BUCKET, RecordKind.OPEN, RecordKind.METRIC):
            return record.automation_id
        if kind is RecordKind.HELD:
            leaf = self._leaves.get(key[0])
            return leaf.automation_id if leaf else ""
        if kind is RecordKind.SLOTS:
            return next(iter(record.values())).firing.automation_id
        return ""
