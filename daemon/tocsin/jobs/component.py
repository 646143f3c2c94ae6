"""The jobs part of the daemon: wires the state (service), the worker and the socket API, and
hands runs of served deployments to the `serve` processes that claim them."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from ..server.component import Component
from .model import SERVE_STOPPED, Deployment, FlowRun, utcnow
from .service import SCHEMA, JobsService
from .triggers import Automations, delete_automations, parse_all, replace_automations
from .worker import Worker

log = logging.getLogger("tocsin.jobs")

if TYPE_CHECKING:
    from ..config import Config
    from ..server.daemon import Daemon


class JobsComponent(Component):
    name = "jobs"
    schema = SCHEMA

    def __init__(self, automations: Automations | None = None) -> None:
        """`automations`: where deployment triggers become automations (none: a daemon
        without the engine, where triggers are refused with a warning)."""
        self.automations = automations
        self.daemon: Daemon | None = None
        self.service: JobsService | None = None
        self.worker: Worker | None = None
        self._waiters: set[asyncio.Event] = set()

    def routes(self) -> list[web.RouteDef]:
        from .api import routes

        return routes()

    def publish(self, app: web.Application) -> None:
        app[JOBS] = self

    async def start(self, daemon: Daemon) -> None:
        self.daemon = daemon
        cfg = daemon.config.jobs
        self.service = JobsService(daemon.ingest)
        await self.service.load(daemon.store.read_sql)
        self.worker = Worker(self.service, daemon.paths.home,
                             cancel_grace=cfg.cancel_grace_seconds,
                             late_after=cfg.late_after_seconds)
        await self.worker.start()
        self.service.on_change = self._changed
        await self.service.ensure_pool("default")
        self.service.online = True
        await self.service.reconcile_status()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
        if self.service is not None:
            self.service.online = False
            await self.service.reconcile_status()

    async def reload(self, config: Config) -> None:
        if self.worker is not None:
            self.worker.cancel_grace = config.jobs.cancel_grace_seconds

    def status(self) -> dict[str, Any]:
        if self.service is None or self.worker is None:
            return {}
        active = sum(1 for r in self.service.runs.values() if r.state.type == "RUNNING")
        return {"deployments": len(self.service.deployments), "flow_runs": len(self.service.runs),
                "running": active, "started": self.worker.started_runs}

    async def apply_deployment(self, spec: Deployment) -> Deployment:
        """Create or update a deployment and replace the automations its triggers stand
        for. Triggers are validated first: a bad one changes nothing."""
        assert self.service is not None and self.daemon is not None
        parse_all(msgspec.structs.replace(spec, id=spec.id or str(uuid.uuid4())))
        dep = await self.service.apply_deployment(spec)
        if self.automations is not None:
            await replace_automations(self.automations, dep, parse_all(dep))
        elif dep.triggers:
            log.warning("deployment %s has triggers but no automation engine runs here", dep.name)
        return dep

    async def delete_deployment(self, dep: Deployment) -> None:
        """Delete a deployment and the automations its triggers made (Prefect deletes a
        deployment's owned automations with it; left behind they would fire at nothing)."""
        assert self.service is not None and self.daemon is not None
        if self.automations is not None:
            await delete_automations(self.automations, dep)
        await self.service.delete_deployment(dep)

    def _changed(self) -> None:
        assert self.worker is not None
        self.worker._wake.set()
        for waiter in self._waiters:
            waiter.set()

    # -- serve processes -------------------------------------------------------------------
    async def claim(self, deployment_ids: list[str], pid: int, timeout: float) -> list[dict[str, Any]]:
        """Long poll from a `serve` process: mark its deployments as served by it, then wait
        (up to `timeout`) for due runs of them, move them to Pending and return their specs."""
        svc, worker = self.service, self.worker
        assert svc is not None and worker is not None
        deps = [svc.get_deployment(d) for d in deployment_ids]
        for dep in deps:
            if dep.served_by != pid:
                dep.served_by = pid
                await svc.save_deployment(dep)
        await svc.reconcile_status()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        wanted = {d.id for d in deps}
        while True:
            due = self._due_served(wanted, utcnow())
            specs = []
            for run, dep in due:
                spec = worker.spec_for(run, dep)
                await svc.set_state(run, "Pending", log_path=spec["log_path"])
                specs.append(spec)
            remaining = deadline - loop.time()
            if specs or remaining <= 0:
                return specs
            waiter = asyncio.Event()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter.wait(), min(remaining, 1.0))
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)

    async def release(self, deployment_ids: list[str], pid: int) -> None:
        """A `serve` process is stopping: its deployments are not ready from now on (their
        triggers queue no runs until a `serve` claims them again)."""
        svc = self.service
        assert svc is not None
        for dep in (svc.get_deployment(d) for d in deployment_ids):
            if dep.served_by == pid:
                dep.served_by = SERVE_STOPPED
                await svc.save_deployment(dep)
        await svc.reconcile_status()

    def _due_served(self, wanted: set[str], now: datetime) -> list[tuple[FlowRun, Deployment]]:
        svc = self.service
        assert svc is not None
        _, _, running = svc.active_counts()
        out = []
        for run in sorted(svc.runs.values(), key=lambda r: r.expected_start_time):
            dep = svc.deployments.get(run.deployment_id or "")
            if (dep is None or dep.id not in wanted or run.state.type != "SCHEDULED"
                    or run.expected_start_time > now):
                continue
            if dep.concurrency_limit is not None and running.get(dep.id, 0) >= dep.concurrency_limit:
                continue
            running[dep.id] = running.get(dep.id, 0) + 1
            out.append((run, dep))
        return out

    async def started(self, run: FlowRun, pid: int) -> FlowRun:
        """A `serve` process started this run's process: it is Running, and we watch it."""
        assert self.service is not None and self.worker is not None
        await self.service.set_state(run, "Running", pid=pid)
        self.worker.watch(run)
        return run


#: Where the socket API's handlers find the jobs part.
JOBS = web.AppKey("jobs", JobsComponent)
