"""The local objects Prefect keeps on its server: flows, deployments, work pools and queues,
flow runs and their states. Plain msgspec Structs, so they go to SQLite and over the socket
as the same JSON.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

# State name -> Prefect state type. Late and Scheduled share a type, as do Paused/Suspended.
STATE_TYPES = {
    "Scheduled": "SCHEDULED",
    "Late": "SCHEDULED",
    "Pending": "PENDING",
    "Running": "RUNNING",
    "Completed": "COMPLETED",
    "Failed": "FAILED",
    "Crashed": "CRASHED",
    "Cancelling": "CANCELLING",
    "Cancelled": "CANCELLED",
    "Paused": "PAUSED",
    "Suspended": "PAUSED",
}
# The name a bare state type gets (change-flow-run-state gives a type, maybe no name).
DEFAULT_NAMES = {
    "SCHEDULED": "Scheduled",
    "PENDING": "Pending",
    "RUNNING": "Running",
    "COMPLETED": "Completed",
    "FAILED": "Failed",
    "CRASHED": "Crashed",
    "CANCELLING": "Cancelling",
    "CANCELLED": "Cancelled",
    "PAUSED": "Paused",
}
TERMINAL_TYPES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
#: `served_by` of a deployment whose `serve` process stopped (no process has pid 0)
SERVE_STOPPED = 0
# A run in one of these holds a process (and a concurrency slot).
ACTIVE_TYPES = {"PENDING", "RUNNING", "CANCELLING", "PAUSED"}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class State(msgspec.Struct, kw_only=True):
    type: str
    name: str
    message: str = ""
    timestamp: datetime = msgspec.field(default_factory=utcnow)
    id: str = msgspec.field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def named(cls, name: str, message: str = "", at: datetime | None = None) -> State:
        return cls(type=STATE_TYPES[name], name=name, message=message, timestamp=at or utcnow())

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_TYPES


class Flow(msgspec.Struct, kw_only=True):
    id: str
    name: str
    created: datetime = msgspec.field(default_factory=utcnow)


class WorkPool(msgspec.Struct, kw_only=True):
    id: str
    name: str
    type: str = "process"
    concurrency_limit: int | None = None
    is_paused: bool = False
    #: READY / NOT_READY / PAUSED, as Prefect reports it
    status: str = "NOT_READY"
    last_status_event_id: str | None = None
    created: datetime = msgspec.field(default_factory=utcnow)


class WorkQueue(msgspec.Struct, kw_only=True):
    id: str
    name: str
    work_pool_id: str
    work_pool_name: str
    #: lower runs first, as in Prefect
    priority: int = 1
    concurrency_limit: int | None = None
    is_paused: bool = False
    status: str = "NOT_READY"
    created: datetime = msgspec.field(default_factory=utcnow)


class Schedule(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A cron or rrule (with timezone) or a fixed interval in seconds; `active: false` keeps
    it idle.
    `day_or` is Prefect's (and croniter's): day-of-month OR day-of-week when both are set."""

    cron: str | None = None
    interval: float | None = None
    #: an RFC 5545 recurrence rule (`FREQ=WEEKLY;BYDAY=MO,WE`), as Prefect's RRuleSchedule
    rrule: str | None = None
    timezone: str = "UTC"
    active: bool = True
    day_or: bool = True


class Deployment(msgspec.Struct, kw_only=True):
    id: str
    name: str
    flow_id: str
    flow_name: str
    #: `path/to/flows.py:function`, relative to `path`
    entrypoint: str | None = None
    #: a shell command, for jobs that are not Python
    command: str | None = None
    #: the project directory runs start in
    path: str = "."
    #: the interpreter runs use (the project's Python)
    python: str = ""
    description: str = ""
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    job_variables: dict[str, Any] = msgspec.field(default_factory=dict)
    tags: list[str] = msgspec.field(default_factory=list)
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    work_queue_id: str | None = None
    schedules: list[Schedule] = msgspec.field(default_factory=list)
    triggers: list[dict[str, Any]] = msgspec.field(default_factory=list)
    concurrency_limit: int | None = None
    paused: bool = False
    #: pid of the `serve` process that runs this deployment's runs (None: the daemon's worker;
    #: SERVE_STOPPED: its serve process said it stopped)
    served_by: int | None = None
    status: str = "NOT_READY"
    #: the scheduler has created runs for every schedule time up to here
    schedule_cursor: datetime | None = None
    created: datetime = msgspec.field(default_factory=utcnow)
    updated: datetime = msgspec.field(default_factory=utcnow)


class FlowRun(msgspec.Struct, kw_only=True):
    id: str
    name: str
    flow_id: str
    flow_name: str
    state: State
    deployment_id: str | None = None
    deployment_name: str | None = None
    work_queue_id: str | None = None
    work_queue_name: str | None = None
    work_pool_id: str | None = None
    work_pool_name: str | None = None
    work_pool_type: str | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    job_variables: dict[str, Any] = msgspec.field(default_factory=dict)
    expected_start_time: datetime = msgspec.field(default_factory=utcnow)
    start_time: datetime | None = None
    end_time: datetime | None = None
    run_count: int = 0
    pid: int | None = None
    result: Any = None
    idempotency_key: str | None = None
    #: {"type": "AUTOMATION"|"DEPLOYMENT"|"SCHEDULE", "id": ..., "display_value": ...}
    created_by: dict[str, Any] | None = None
    log_path: str | None = None
    created: datetime = msgspec.field(default_factory=utcnow)

    @property
    def total_run_time(self) -> float:
        if self.start_time is None:
            return 0.0
        end = self.end_time or utcnow()
        return max(0.0, (end - self.start_time).total_seconds())


def to_json(obj: Any) -> Any:
    """Plain JSON-ready values (times and ids as strings)."""
    return msgspec.to_builtins(obj)
