"""The engine's durable state in SQLite: tables, the statements that save changes, restore.

Every engine record (bucket, composite slots, held events, open proactive firing, waiting
follower) is one row of `engine_state`, keyed by (kind, key), written only when it changed.
`engine_meta` holds the seq of the last event the engine evaluated and its clock; both are
committed in the same transaction as the state they produced, so after a crash the daemon
re-evaluates exactly the committed events the saved state has not seen (DESIGN rule 2).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec

from ..events.store import Statements
from ..firing import Firing
from .engine import Engine
from .metrics import MetricState
from .model import Automation, parse_automation
from .state import Bucket, Follower, Held, OpenFiring, RecordKind, Slot

SCHEMA = """
CREATE TABLE IF NOT EXISTS automations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS automation_sources (
    automation_id TEXT PRIMARY KEY,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS engine_state (
    kind TEXT NOT NULL,
    k TEXT NOT NULL,
    automation_id TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (kind, k)
);
CREATE INDEX IF NOT EXISTS engine_state_automation ON engine_state (automation_id);
CREATE TABLE IF NOT EXISTS engine_meta (k TEXT PRIMARY KEY, v);
INSERT OR IGNORE INTO engine_meta (k, v) VALUES ('last_seq', 0);
CREATE TABLE IF NOT EXISTS automation_firings (
    id TEXT PRIMARY KEY,
    automation_id TEXT NOT NULL,
    state TEXT NOT NULL,
    at REAL NOT NULL,
    event_id TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS automation_firings_by_automation ON automation_firings (automation_id, at);
"""

_encoder = msgspec.json.Encoder()
_buckets = msgspec.json.Decoder(list[Bucket])
#: engine_state rows read per query at restore, so no read holds a snapshot for long
RESTORE_CHUNK = 50_000
#: a chunk of saved buckets as one JSON array built by SQLite, and its last rowid: no Python
#: object per row (a million rows made 3M, a third of the restore's time). `+kind` keeps
#: the walk in rowid order rather than on the (kind, k) index.
SELECT_BUCKETS = ("SELECT max(rowid), CAST('[' || group_concat(data, ',') || ']' AS BLOB) "
                  "FROM (SELECT rowid, data FROM engine_state WHERE rowid > ? "
                  "AND +kind = 'bucket' ORDER BY rowid LIMIT ?)")
#: every other record, row by row (there are few)
SELECT_STATE = ("SELECT rowid, kind, k, data FROM engine_state WHERE rowid > ? "
                "AND +kind != 'bucket' ORDER BY rowid LIMIT ?")
_TYPES: dict[str, Any] = {"bucket": Bucket, "slots": dict[str, Slot], "held": list[Held],
                          "open": OpenFiring, "follower": Follower, "metric": MetricState}
UPSERT_STATE = "INSERT OR REPLACE INTO engine_state (kind, k, automation_id, data) VALUES (?, ?, ?, ?)"
DELETE_STATE = "DELETE FROM engine_state WHERE kind = ? AND k = ?"
MARK_EVALUATED = ("UPDATE engine_meta SET v = max(v, coalesce((SELECT seq FROM events "
                  "WHERE id = ?), v)) WHERE k = 'last_seq'")
SET_CLOCK = "INSERT OR REPLACE INTO engine_meta (k, v) VALUES ('clock', ?)"


def _key_text(kind: str, key: Any) -> str:
    if kind in ("slots", "follower", "metric"):
        return key
    trigger_id, labels = key
    return json.dumps([trigger_id, list(labels)])


def _key_value(kind: str, text: str) -> Any:
    if kind in ("slots", "follower", "metric"):
        return text
    trigger_id, labels = json.loads(text)
    return (trigger_id, tuple(labels))


def state_statements(engine: Engine, last_event_id: str | None) -> Statements:
    """Rows for everything that changed since the last call, plus the progress marker."""
    upserts: list[tuple[Any, ...]] = []
    deletes: list[tuple[Any, ...]] = []
    for change in engine.take_changes():
        text = _key_text(change.kind, change.key)
        if change.record is None:
            deletes.append((change.kind.value, text))
        else:
            upserts.append((change.kind.value, text, change.automation_id,
                            _encoder.encode(change.record)))
    out: Statements = []
    if deletes:
        out.append((DELETE_STATE, deletes))
    if upserts:
        out.append((UPSERT_STATE, upserts))
    if last_event_id is not None:
        out.append((MARK_EVALUATED, [(last_event_id,)]))
    out.append((SET_CLOCK, [(engine.now,)]))
    return out


def restore(engine: Engine, rows: list[Any]) -> None:
    """Load saved records (kind, k, data) into an engine whose automations are loaded."""
    buckets = [data for kind, _, data in rows if kind == "bucket"]
    if buckets:
        restore_buckets(engine, b"[" + b",".join(buckets) + b"]")
    engine.restore((RecordKind(kind), _key_value(kind, text),
                    msgspec.json.decode(data, type=_TYPES[kind]))
                   for kind, text, data in rows if kind != "bucket")


def restore_buckets(engine: Engine, array: bytes) -> None:
    """Load saved buckets given as one JSON array (SELECT_BUCKETS) in one decoder call; the
    key is read from the record itself rather than parsed from `k`."""
    engine.restore_buckets(_decode_buckets(array))


def _decode_buckets(array: bytes) -> list[Bucket]:
    """Saved buckets, in one decoder call; if some were saved as JSON objects (before buckets
    were saved as arrays), one by one."""
    try:
        return _buckets.decode(array)
    except msgspec.ValidationError:
        return [_from_raw(raw) for raw in msgspec.json.decode(array)]


def _from_raw(raw: Any) -> Bucket:
    """A bucket from its decoded JSON: an array, or an object with every field named (as
    saved before issue 13)."""
    if isinstance(raw, dict):
        raw = [raw[name] for name in Bucket.__struct_fields__]
    return msgspec.convert(raw, Bucket)


def automation_row(automation: Automation) -> tuple[str, str, bytes]:
    return (automation.id or "", automation.name, _encoder.encode(automation))


def decode_automation(data: bytes) -> Automation:
    """A stored automation, validated again so actions come back as the actions' types."""
    raw = msgspec.json.decode(data)
    automation = parse_automation(raw, keep_ids=True)
    stored = msgspec.convert({k: raw.get(k) for k in ("id", "created", "updated")},
                             _Stamps)
    automation.id, automation.created, automation.updated = stored.id, stored.created, stored.updated
    return automation


class _Stamps(msgspec.Struct):
    id: str | None = None
    created: datetime | None = None
    updated: datetime | None = None


UPSERT_AUTOMATION = "INSERT OR REPLACE INTO automations (id, name, data) VALUES (?, ?, ?)"


def source_statements(sources: list[tuple[str, str | None]]) -> Statements:
    """Keep the text each automation (id, text) was written in, or forget it (None: changed
    without one)."""
    kept = [(i, text) for i, text in sources if text is not None]
    dropped = [(i,) for i, text in sources if text is None]
    out: Statements = []
    if kept:
        out.append(("INSERT OR REPLACE INTO automation_sources (automation_id, source) "
                    "VALUES (?, ?)", kept))
    if dropped:
        out.append(("DELETE FROM automation_sources WHERE automation_id = ?", dropped))
    return out


def delete_automation_statements(automation_id: str) -> Statements:
    return [("DELETE FROM automations WHERE id = ?", [(automation_id,)]),
            *source_statements([(automation_id, None)]),
            ("DELETE FROM engine_state WHERE automation_id = ?", [(automation_id,)]),
            ("DELETE FROM automation_firings WHERE automation_id = ?", [(automation_id,)])]


def firing_row(firing: Firing, event_id: str, actions: list[Any]) -> tuple[Any, ...]:
    """A firing and the actions it makes due (read by `/automations/{id}/state`)."""
    data = {"firing": firing, "actions": actions}
    return (firing.id, firing.automation_id, firing.state, firing.at.timestamp(), event_id,
            _encoder.encode(data))


INSERT_FIRING = ("INSERT OR IGNORE INTO automation_firings "
                 "(id, automation_id, state, at, event_id, data) VALUES (?, ?, ?, ?, ?, ?)")


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()
