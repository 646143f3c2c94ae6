"""The engine's state records: what survives a restart, in a shape that serialises cheaply.

Times are float seconds since the epoch: buckets hold event time (`occurred`), everything
else processing time (an event's `received`, or the clock tick). Each record kind is stored
as a row keyed by (kind, key) so the daemon can persist exactly what changed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

import msgspec

from ..events.model import Event
from ..firing import Firing

# How far back the first window of a trigger without `after` reaches (§5.2 B), how long a
# follower waits for its leader (§5.7), and how long an early expected event is held (§5.7).
LOOKBACK = 15 * 60.0
SEEN_TTL = 30 * 60.0
SEEN_MAX = 10_000
HELD_TTL = 2 * LOOKBACK
MAX_FOLLOWER_DEPTH = 20
#: a reactive window is forgotten this long after its end (Prefect's expired-bucket
#: buffer), so late events that occurred inside it still count
REACTIVE_EXPIRY = 60.0
DEFAULT_IDLE_TTL = 7 * 86400.0


class Bucket(msgspec.Struct, kw_only=True, gc=False, array_like=True):
    """One window of one event trigger for one bucketing key (§5.1).

    A million may be open at once, so a bucket is kept small (issue 13): out of the garbage
    collector's lists (it holds no cycles), and only a proactive window keeps its last event,
    which its firing at the deadline reports; a reactive window fires on the event in hand
    and needs none. It is saved as a JSON array (no field names): a third of the bytes to
    write and read, and a million decode in about a second at restore.
    """

    automation_id: str
    trigger_id: str
    key: tuple[str, ...]
    start: float
    end: float
    count: int
    #: proactive windows only (see above)
    last_event: Event | None = None
    #: processing time of the last event that touched it (for the idle TTL)
    touched: float
    #: when the engine must next look at it (fire, expire or forget)
    deadline: float = 0.0


class Slot(msgspec.Struct, kw_only=True):
    """A composite's stored child firing (one per child, the latest wins)."""

    seq: int
    at: float
    firing: Firing


class Held(msgspec.Struct, kw_only=True):
    """An expected event that came before any window of its proactive trigger was armed."""

    event: Event
    until: float


class Follower(msgspec.Struct, kw_only=True):
    """An event waiting for the event it `follows` (released by it, or lost at `until`)."""

    event: Event
    until: float


class OpenFiring(msgspec.Struct, kw_only=True):
    """A proactive firing that has not resolved yet (resolution: tocsin decision 7)."""

    automation_id: str
    firing_id: str
    at: float


class RecordKind(StrEnum):
    """The kinds of state record; the value is how a saved row names its kind."""

    BUCKET = "bucket"      # key: (trigger id, bucketing key)   record: Bucket
    SLOTS = "slots"        # key: composite trigger id          record: dict[str, Slot]
    HELD = "held"          # key: (trigger id, bucketing key)   record: list[Held]
    OPEN = "open"          # key: (trigger id, bucketing key)   record: OpenFiring
    FOLLOWER = "follower"  # key: the follower's event id       record: Follower
    METRIC = "metric"      # key: automation id                 record: MetricState


class StateChange(NamedTuple):
    """One record changed since the last `Engine.take_changes`: its current value, or None
    when it is gone."""

    kind: RecordKind
    key: Any
    #: the automation it belongs to ("" when that is no longer known)
    automation_id: str
    record: Any
