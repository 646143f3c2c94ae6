"""The jobs' state: work pools and queues, flows, deployments and flow runs, held in memory
and written through to SQLite. Every change that Prefect announces with an event is committed
in the same transaction as that event (`ingest(events, extra=rows)`).

This module knows nothing of processes; the worker (worker.py) starts and stops them and
reports back through `set_state`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import msgspec

from ..errors import Conflict, InvalidInput, NotFound
from ..events.model import Event
from ..events.store import Statements
from . import events as ev
from .model import (
    ACTIVE_TYPES,
    DEFAULT_NAMES,
    STATE_TYPES,
    Deployment,
    Flow,
    FlowRun,
    State,
    WorkPool,
    WorkQueue,
    new_id,
    utcnow,
)
from .launch import run_paths
from .names import run_name

log = logging.getLogger("tocsin.jobs")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs_objects (
    kind TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS jobs_flow_runs (
    id TEXT PRIMARY KEY, deployment_id TEXT, state_type TEXT NOT NULL,
    expected_start_time TEXT NOT NULL, data BLOB NOT NULL
);
"""
_UPSERT_OBJECT = "INSERT OR REPLACE INTO jobs_objects (kind, id, name, data) VALUES (?, ?, ?, ?)"
_UPSERT_RUN = ("INSERT OR REPLACE INTO jobs_flow_runs (id, deployment_id, state_type, "
               "expected_start_time, data) VALUES (?, ?, ?, ?, ?)")
_KINDS = {"pool": WorkPool, "queue": WorkQueue, "flow": Flow, "deployment": Deployment}
_enc = msgspec.json.Encoder()

Ingest = Callable[..., Awaitable[list[Event]]]


def _object_row(kind: str, obj: Any) -> tuple[str, list[tuple[Any, ...]]]:
    return (_UPSERT_OBJECT, [(kind, obj.id, obj.name, _enc.encode(obj))])


def _run_row(run: FlowRun) -> tuple[str, list[tuple[Any, ...]]]:
    return (_UPSERT_RUN, [(run.id, run.deployment_id, run.state.type,
                           run.expected_start_time.isoformat(), _enc.encode(run))])


class JobsService:
    def __init__(self, ingest: Ingest, clock: Callable[[], datetime] = utcnow) -> None:
        self._ingest = ingest
        self.clock = clock
        self.pools: dict[str, WorkPool] = {}
        self.queues: dict[str, WorkQueue] = {}
        self.flows: dict[str, Flow] = {}
        self.deployments: dict[str, Deployment] = {}
        self.runs: dict[str, FlowRun] = {}
        #: the daemon's worker is polling (pools and queues are READY, not NOT_READY)
        self.online = False
        #: called after anything that may let a run start (new run, resumed pool, ...)
        self.on_change: Callable[[], None] = lambda: None
        #: is this `serve` process still alive? (set by the worker)
        self.server_alive: Callable[[int], bool] = lambda pid: False

    # -- loading ---------------------------------------------------------------------------
    async def load(self, read_sql: Callable[..., Awaitable[list[Any]]]) -> None:
        for kind, data in await read_sql("SELECT kind, data FROM jobs_objects"):
            obj = msgspec.json.decode(data, type=_KINDS[kind])
            {"pool": self.pools, "queue": self.queues, "flow": self.flows,
             "deployment": self.deployments}[kind][obj.id] = obj
        for (data,) in await read_sql("SELECT data FROM jobs_flow_runs"):
            run = msgspec.json.decode(data, type=FlowRun)
            self.runs[run.id] = run

    async def commit(self, events: list[Event], rows: Statements) -> None:
        await self._ingest(events, extra=rows)

    # -- lookups ---------------------------------------------------------------------------
    def pool_named(self, name: str) -> WorkPool | None:
        return next((p for p in self.pools.values() if p.name == name), None)

    def get_pool(self, key: str) -> WorkPool:
        pool = self.pools.get(key) or self.pool_named(key)
        if pool is None:
            raise NotFound(f"no work pool with id or name {key!r}")
        return pool

    def queue_named(self, pool: WorkPool, name: str) -> WorkQueue | None:
        return next((q for q in self.queues.values()
                     if q.work_pool_id == pool.id and q.name == name), None)

    def get_queue(self, key: str, pool: str | None = None) -> WorkQueue:
        queue = self.queues.get(key)
        if queue is None and pool is not None:
            queue = self.queue_named(self.get_pool(pool), key)
        if queue is None:
            where = f" in work pool {pool!r}" if pool else ""
            raise NotFound(f"no work queue with id or name {key!r}{where}")
        return queue

    def get_deployment(self, key: str) -> Deployment:
        """By id, `flow/deployment`, or a deployment name that only one flow uses (an
        ambiguous name is refused with the `flow/deployment` names to choose from)."""
        dep = self.deployments.get(key)
        if dep is None:
            flow, _, name = key.rpartition("/")
            found = [d for d in self.deployments.values()
                     if d.name == name and (not flow or d.flow_name == flow)]
            if len(found) > 1:
                choices = ", ".join(sorted(f"{d.flow_name}/{d.name}" for d in found))
                raise InvalidInput([("deployment", f"{key!r} names {len(found)} deployments; "
                                                   f"give one of: {choices}")])
            dep = found[0] if found else None
        if dep is None:
            raise NotFound(f"no deployment with id or name {key!r} "
                           "(see `tocsin deployment ls`)")
        return dep

    def get_run(self, key: str) -> FlowRun:
        run = self.runs.get(key)
        if run is None:
            matches = [r for r in self.runs.values() if r.id.startswith(key) or r.name == key]
            if len(matches) == 1:
                run = matches[0]
        if run is None:
            raise NotFound(f"no flow run with id {key!r} (see `tocsin run ls`)")
        return run

    # -- pools and queues ------------------------------------------------------------------
    async def ensure_pool(self, name: str, *, type: str = "process",
                          concurrency_limit: int | None = None) -> WorkPool:
        """The pool with that name, created (with its `default` queue) if missing."""
        pool = self.pool_named(name)
        if pool is not None:
            return pool
        pool = WorkPool(id=new_id(), name=name, type=type, concurrency_limit=concurrency_limit)
        self.pools[pool.id] = pool
        await self.commit([], [_object_row("pool", pool)])
        await self.ensure_queue(pool, "default")
        await self.reconcile_status()
        return pool

    async def ensure_queue(self, pool: WorkPool, name: str, *, priority: int | None = None,
                           concurrency_limit: int | None = None) -> WorkQueue:
        queue = self.queue_named(pool, name)
        if queue is not None:
            return queue
        if priority is None:
            priority = 1 + max((q.priority for q in self.queues.values()
                                if q.work_pool_id == pool.id), default=0)
        queue = WorkQueue(id=new_id(), name=name, work_pool_id=pool.id, work_pool_name=pool.name,
                          priority=priority, concurrency_limit=concurrency_limit)
        self.queues[queue.id] = queue
        await self.commit([], [_object_row("queue", queue)])
        await self.reconcile_status()
        return queue

    async def update_pool(self, pool: WorkPool, changes: dict[str, Any]) -> WorkPool:
        for key in ("concurrency_limit", "is_paused", "type"):
            if key in changes:
                setattr(pool, key, changes[key])
        await self.commit([], [_object_row("pool", pool)])
        await self.reconcile_status()
        self.on_change()
        return pool

    async def update_queue(self, queue: WorkQueue, changes: dict[str, Any]) -> WorkQueue:
        for key in ("concurrency_limit", "is_paused", "priority"):
            if key in changes:
                setattr(queue, key, changes[key])
        await self.commit([], [_object_row("queue", queue)])
        await self.reconcile_status()
        self.on_change()
        return queue

    # -- status events ---------------------------------------------------------------------
    def _dispatch_status(self, obj: WorkPool | WorkQueue) -> str:
        return "PAUSED" if obj.is_paused else ("READY" if self.online else "NOT_READY")

    def _deployment_status(self, dep: Deployment) -> str:
        if dep.served_by is not None:
            return "READY" if self.server_alive(dep.served_by) else "NOT_READY"
        return "READY" if self.online else "NOT_READY"

    async def reconcile_status(self) -> None:
        """Bring every pool, queue and deployment status up to date, emitting Prefect's
        status event for each one that changed."""
        now = self.clock()
        events: list[Event] = []
        rows: Statements = []
        for pool in self.pools.values():
            status = self._dispatch_status(pool)
            if status != pool.status:
                pool.status = status
                event = ev.work_pool_status_event(pool, now, pool.last_status_event_id)
                pool.last_status_event_id = str(event.id)
                events.append(event)
                rows.append(_object_row("pool", pool))
        for queue in self.queues.values():
            status = self._dispatch_status(queue)
            if status != queue.status:
                queue.status = status
                events.append(ev.work_queue_status_event(
                    queue, self.pools.get(queue.work_pool_id), now))
                rows.append(_object_row("queue", queue))
        for dep in self.deployments.values():
            status = self._deployment_status(dep)
            if status != dep.status:
                dep.status = status
                queue = self.queues.get(dep.work_queue_id or "")
                pool = self.pools.get(queue.work_pool_id) if queue else None
                events.append(ev.deployment_status_event(dep, queue, pool, now))
                rows.append(_object_row("deployment", dep))
        if events or rows:
            await self.commit(events, rows)

    # -- deployments -----------------------------------------------------------------------
    async def ensure_flow(self, name: str) -> Flow:
        flow = next((f for f in self.flows.values() if f.name == name), None)
        if flow is None:
            flow = Flow(id=new_id(), name=name)
            self.flows[flow.id] = flow
            await self.commit([], [_object_row("flow", flow)])
        return flow

    async def apply_deployment(self, spec: Deployment) -> Deployment:
        """Create or update by (flow name, deployment name); `spec.id` is ignored on update.
        The work pool and queue are created when missing."""
        flow = await self.ensure_flow(spec.flow_name)
        spec.flow_id = flow.id
        if spec.served_by is None:
            pool = await self.ensure_pool(spec.work_pool_name or "default")
            queue = await self.ensure_queue(pool, spec.work_queue_name or "default")
            spec.work_pool_name, spec.work_queue_name, spec.work_queue_id = (
                pool.name, queue.name, queue.id)
        else:
            spec.work_pool_name = spec.work_queue_name = spec.work_queue_id = None
        old = next((d for d in self.deployments.values()
                    if d.name == spec.name and d.flow_name == spec.flow_name), None)
        now = self.clock()
        if old is not None:
            spec.id, spec.created, spec.status = old.id, old.created, old.status
            spec.paused = old.paused
            spec.schedule_cursor = old.schedule_cursor if old.schedules == spec.schedules else now
        else:
            spec.id = spec.id or new_id()
            spec.schedule_cursor = now
        spec.updated = now
        self.deployments[spec.id] = spec
        await self.commit([], [_object_row("deployment", spec)])
        await self.reconcile_status()
        self.on_change()
        return spec

    async def set_deployment_paused(self, dep: Deployment, paused: bool) -> Deployment:
        """Pausing stops its schedules; resuming starts them from now (no backfill)."""
        if dep.paused != paused:
            dep.paused = paused
            if not paused:
                dep.schedule_cursor = self.clock()
            await self.commit([], [_object_row("deployment", dep)])
        return dep

    async def delete_deployment(self, dep: Deployment) -> None:
        self.deployments.pop(dep.id, None)
        await self.commit([], [("DELETE FROM jobs_objects WHERE kind = 'deployment' AND id = ?",
                                [(dep.id,)])])

    async def save_deployment(self, dep: Deployment) -> None:
        await self.commit([], [_object_row("deployment", dep)])

    # -- flow runs -------------------------------------------------------------------------
    async def create_direct_run(self, flow_name: str, *, parameters: dict[str, Any],
                                tags: list[str], home: str) -> FlowRun:
        """A flow run with no deployment, Pending: a flow called directly in a program,
        which reports its own states (as a Prefect flow run called without a deployment)
        and appends its log lines to the run's log file under `home`."""
        flow = await self.ensure_flow(flow_name)
        now = self.clock()
        run_id = new_id()
        run = FlowRun(id=run_id, name=run_name(), flow_id=flow.id, flow_name=flow.name,
                      state=State.named("Pending", at=now), tags=sorted(set(tags)),
                      parameters=parameters, created=now,
                      log_path=run_paths(home, run_id)["log_path"])
        self.runs[run.id] = run
        await self.commit([ev.flow_run_state_event(run, None)], [_run_row(run)])
        self.on_change()
        return run

    async def create_run(self, dep: Deployment, *, parameters: dict[str, Any] | None = None,
                         job_variables: dict[str, Any] | None = None,
                         scheduled_at: datetime | None = None, idempotency_key: str | None = None,
                         created_by: dict[str, Any] | None = None,
                         tags: list[str] | None = None, state_name: str = "Scheduled") -> FlowRun:
        """A new run of `dep` in state Scheduled; with an idempotency key already used for
        this deployment, the run made then (as Prefect does)."""
        if idempotency_key:
            for run in self.runs.values():
                if run.deployment_id == dep.id and run.idempotency_key == idempotency_key:
                    return run
        queue = self.queues.get(dep.work_queue_id or "")
        pool = self.pools.get(queue.work_pool_id) if queue else None
        now = self.clock()
        run = FlowRun(
            id=new_id(), name=run_name(), flow_id=dep.flow_id, flow_name=dep.flow_name,
            state=State.named(state_name, at=now), deployment_id=dep.id,
            deployment_name=dep.name,
            work_queue_id=queue.id if queue else None, work_queue_name=queue.name if queue else None,
            work_pool_id=pool.id if pool else None, work_pool_name=pool.name if pool else None,
            work_pool_type=pool.type if pool else None,
            tags=sorted(set(dep.tags) | set(tags or [])),
            parameters={**dep.parameters, **(parameters or {})},
            job_variables={**dep.job_variables, **(job_variables or {})},
            expected_start_time=scheduled_at or now, idempotency_key=idempotency_key,
            created_by=created_by, created=now)
        self.runs[run.id] = run
        await self.commit([ev.flow_run_state_event(run, None)], [_run_row(run)])
        self.on_change()
        return run

    async def set_state(self, run: FlowRun, name: str, message: str = "", *,
                        state_type: str | None = None, force: bool = True,
                        **changes: Any) -> FlowRun:
        """Move a run to a new state (committing it with its event). Without `force`, a run
        that has finished cannot leave its final state (Conflict)."""
        if not force and run.state.is_terminal:
            raise Conflict(f"flow run {run.name} is already {run.state.name}; "
                           "a finished run cannot change state without force")
        stype = state_type or STATE_TYPES.get(name)
        if stype is None:
            raise InvalidInput([("state", (f"unknown state {name!r}; use one of "
                                          f"{', '.join(STATE_TYPES)}"))])
        initial = run.state
        run.state = State(type=stype, name=name or DEFAULT_NAMES[stype], message=message,
                          timestamp=max(self.clock(), initial.timestamp))
        for key, value in changes.items():
            setattr(run, key, value)
        if stype == "RUNNING" and initial.type != "PAUSED":
            run.run_count += 1
            run.start_time = run.start_time or run.state.timestamp
        if run.state.is_terminal:
            run.end_time = run.state.timestamp
        dep = self.deployments.get(run.deployment_id or "")
        event = ev.flow_run_state_event(run, initial, dep.tags if dep else [])
        await self.commit([event], [_run_row(run)])
        if run.state.is_terminal or stype == "SCHEDULED":
            self.on_change()
        return run

    async def delete_run(self, run: FlowRun) -> None:
        self.runs.pop(run.id, None)
        await self.commit([], [("DELETE FROM jobs_flow_runs WHERE id = ?", [(run.id,)])])

    # -- counts for dispatch ---------------------------------------------------------------
    def active_counts(self) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        """Runs holding a process, per pool, per queue and per deployment."""
        pools: dict[str, int] = {}
        queues: dict[str, int] = {}
        deps: dict[str, int] = {}
        for run in self.runs.values():
            if run.state.type in ACTIVE_TYPES:
                for key, counts in ((run.work_pool_id, pools), (run.work_queue_id, queues),
                                    (run.deployment_id, deps)):
                    if key:
                        counts[key] = counts.get(key, 0) + 1
        return pools, queues, deps
