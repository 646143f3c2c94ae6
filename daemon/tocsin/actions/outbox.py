"""The durable action queue: one row per (firing, action index), written in the same
transaction as the firing, updated in the same transaction as each attempt's outcome event.

A row holds everything the action needs to run (the automation as it was when it fired, the
action, the firing and the triggering event), so a restart, an edited automation or pruned
events never change what a queued action does. `firing_id:action_index` is its idempotency
key: the primary key keeps a firing from being queued twice, and webhook calls carry it.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from ..events import lineage
from ..events.model import Event, uuid7
from ..events.store import Statements
from ..firing import Firing
from .context import automation_dict
from .render import action_plan

SCHEMA = """
CREATE TABLE IF NOT EXISTS action_outbox (
    firing_id TEXT NOT NULL,
    action_index INTEGER NOT NULL,
    automation_id TEXT NOT NULL,
    action_type TEXT NOT NULL,
    job BLOB NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    last_error TEXT,
    PRIMARY KEY (firing_id, action_index)
);
CREATE INDEX IF NOT EXISTS action_outbox_due ON action_outbox (status, next_at);
CREATE INDEX IF NOT EXISTS action_outbox_finished ON action_outbox (status, updated);
"""

INSERT = ("INSERT OR IGNORE INTO action_outbox (firing_id, action_index, automation_id, "
          "action_type, job, status, attempts, next_at, created, updated) "
          "VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)")
MARK_DONE = ("UPDATE action_outbox SET status = 'done', attempts = ?, updated = ?, "
             "last_error = NULL WHERE firing_id = ? AND action_index = ?")
MARK_FAILED = ("UPDATE action_outbox SET status = 'failed', attempts = ?, updated = ?, "
               "last_error = ? WHERE firing_id = ? AND action_index = ?")
MARK_RETRY = ("UPDATE action_outbox SET attempts = ?, next_at = ?, updated = ?, last_error = ? "
              "WHERE firing_id = ? AND action_index = ?")
SELECT_DUE = ("SELECT job, attempts, next_at, rowid FROM action_outbox "
              "WHERE status = 'pending' AND next_at <= ? AND (next_at, rowid) > (?, ?) "
              "ORDER BY next_at, rowid LIMIT ?")
PRUNE = ("DELETE FROM action_outbox WHERE status IN ('done', 'failed') AND updated < ?")


class Job(msgspec.Struct, kw_only=True):
    """One queued action with everything it needs to run."""

    firing_id: str
    action_index: int
    #: Prefect's TriggeredAction id
    invocation: str
    automation: dict[str, Any]
    action: dict[str, Any]
    firing: Firing
    #: the action's triggering event (the state-change event for actions_on_trigger)
    event: Event | None
    automation_triggered_event_id: str | None
    #: fixed when queued, so every attempt re-sends the same `action.triggered` event
    #: (the store keeps the first) and the outcome events can follow it
    triggered_event_id: str
    attempts: int = 0

    @property
    def key(self) -> str:
        return f"{self.firing_id}:{self.action_index}"

    @property
    def lineage(self) -> lineage.Chain:
        """The causal chain what this action produces carries: the triggering event's, then
        this automation (the loop guard's input, see events/lineage.py)."""
        return (*lineage.chain_of(self.firing.triggering_event), self.firing.automation_id)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Job)


def encode_job(job: Job) -> bytes:
    return _encoder.encode(job)


def decode_job(data: bytes, attempts: int) -> Job:
    job = _decoder.decode(data)
    job.attempts = attempts
    return job


def jobs_for_firing(firing: Firing, automation: Any, state_change_event: Event | None) -> list[Job]:
    """The firing's actions as jobs, in Prefect's order (see `render.action_plan`)."""
    snapshot = automation_dict(automation)
    changed_id = str(state_change_event.id) if state_change_event is not None else None
    return [
        Job(firing_id=firing.id, action_index=index, invocation=str(uuid7()),
            automation=snapshot, action=action.to_dict(), firing=firing, event=event,
            automation_triggered_event_id=changed_id, triggered_event_id=str(uuid7()))
        for index, action, event in action_plan(automation, firing, state_change_event)
    ]


def insert_statements(jobs: list[Job]) -> Statements:
    now = time.time()
    rows = [(j.firing_id, j.action_index, str(j.automation.get("id", "")), j.action["type"],
             encode_job(j), now, now, now) for j in jobs]
    return [(INSERT, rows)] if rows else []
