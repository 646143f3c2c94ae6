"""The local worker: starts due flow runs as processes, watches them end, cancels, suspends
and resumes them, creates runs on schedule, and adopts runs left running by a previous daemon.

A run's process is watched through a pidfd (readable when the process ends), which works the
same for the daemon's own children, for a `serve` process's children and for runs adopted
after a restart. Processes run in their own session: stopping the daemon leaves them running.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..automations import lineage
from ..errors import Conflict
from . import scheduler
from .launch import (
    find_run_process,
    is_run_process,
    pid_alive,
    read_result,
    run_paths,
    spawn,
)
from .model import ACTIVE_TYPES, Deployment, FlowRun, utcnow
from .service import JobsService

log = logging.getLogger("tocsin.jobs.worker")


class Worker:
    def __init__(self, service: JobsService, home: Path, *,
                 clock: Callable[[], datetime] = utcnow, cancel_grace: float = 5.0,
                 late_after: float = 15.0) -> None:
        self.service = service
        self.home = home
        self.clock = clock
        self.cancel_grace = cancel_grace
        self.late_after = timedelta(seconds=late_after)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._watched: dict[str, int] = {}  # run id -> pidfd
        self._children: dict[str, Any] = {}  # run id -> Popen (to reap our own)
        self._cancelling: set[str] = set()
        self.started_runs = 0

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        self.service.on_change = self._wake.set
        self.service.server_alive = pid_alive
        await self.adopt()
        self._tasks = [asyncio.create_task(self._dispatch_loop(), name="jobs-dispatch"),
                       asyncio.create_task(self._schedule_loop(), name="jobs-schedule")]

    async def stop(self) -> None:
        """Stop dispatching and watching; the runs' processes keep running (adopted later)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        loop = asyncio.get_running_loop()
        for fd in self._watched.values():
            loop.remove_reader(fd)
            os.close(fd)
        self._watched.clear()

    async def adopt(self) -> None:
        """Runs a previous daemon left active: watch those still alive, settle the others
        from their result file (they ended while we were down) or mark them Crashed."""
        for run in list(self.service.runs.values()):
            if run.state.type not in ACTIVE_TYPES:
                continue
            if not run.pid and (pid := find_run_process(run.id)) is not None:
                await self.service.set_state(run, "Running", pid=pid)
            if run.pid and is_run_process(run.pid, run.id):
                log.info("adopting flow run %s (pid %d)", run.name, run.pid)
                self.watch(run)
            else:
                await self.settle(run, None, vanished=True)

    # -- starting runs ---------------------------------------------------------------------
    def spec_for(self, run: FlowRun, dep: Deployment) -> dict[str, Any]:
        """What the runner process needs (also handed to `serve` processes)."""
        return {"run_id": run.id, "run_name": run.name, "flow_name": run.flow_name,
                "entrypoint": dep.entrypoint, "command": dep.command, "cwd": dep.path,
                "python": dep.python, "parameters": run.parameters,
                "env": {**(run.job_variables.get("env") or {}),
                        **lineage.run_environment(run.created_by)},
                **run_paths(self.home, run.id)}

    async def launch(self, run: FlowRun, dep: Deployment) -> None:
        spec = self.spec_for(run, dep)
        await self.service.set_state(run, "Pending", log_path=spec["log_path"])
        try:
            Path(spec["result_path"]).unlink(missing_ok=True)
            proc = spawn(spec)
        except OSError as exc:
            await self.service.set_state(run, "Crashed", f"Could not start the run's process: {exc}")
            return
        self._children[run.id] = proc
        self.started_runs += 1
        await self.service.set_state(run, "Running", pid=proc.pid)
        self.watch(run)

    def watch(self, run: FlowRun) -> None:
        """Call `settle` when the run's process ends."""
        assert run.pid is not None
        if run.id in self._watched:
            return
        try:
            fd = os.pidfd_open(run.pid)
        except ProcessLookupError:
            asyncio.ensure_future(self._exited(run.id))
            return
        self._watched[run.id] = fd
        asyncio.get_running_loop().add_reader(fd, self._on_pidfd, run.id)

    def _on_pidfd(self, run_id: str) -> None:
        fd = self._watched.pop(run_id, None)
        if fd is not None:
            asyncio.get_running_loop().remove_reader(fd)
            os.close(fd)
        asyncio.ensure_future(self._exited(run_id))

    async def _exited(self, run_id: str) -> None:
        proc = self._children.pop(run_id, None)
        code = proc.wait() if proc is not None else None  # it has ended: wait() returns at once
        run = self.service.runs.get(run_id)
        if run is not None:
            try:
                await self.settle(run, code)
            except Exception:
                log.exception("could not record the end of flow run %s", run_id)

    async def settle(self, run: FlowRun, exit_code: int | None, vanished: bool = False) -> None:
        """The run's process is gone: record its final state from what it reported."""
        self._cancelling.discard(run.id)
        if run.state.is_terminal:  # forced to a final state while it ran: keep that
            return
        if run.state.type == "CANCELLING":
            await self.service.set_state(run, "Cancelled", run.state.message or
                                         "Flow run was cancelled", pid=None)
            return
        result = read_result(run_paths(self.home, run.id)["result_path"])
        if result is not None and result.get("state") in ("Completed", "Failed"):
            await self.service.set_state(run, result["state"], result.get("message", ""),
                                         result=result.get("result"))
        elif vanished:
            await self.service.set_state(
                run, "Crashed", "The flow run's process was gone when the daemon restarted, "
                "and it left no result")
        else:
            how = f"exited with code {exit_code}" if exit_code is not None else "ended"
            await self.service.set_state(
                run, "Crashed", f"Flow run process {how} without reporting a result")

    # -- controlling runs ------------------------------------------------------------------
    def _signal(self, run: FlowRun, sig: int) -> bool:
        if not run.pid or not is_run_process(run.pid, run.id):
            return False
        try:
            os.killpg(run.pid, sig)
        except ProcessLookupError:
            return False
        return True

    async def cancel(self, run: FlowRun, message: str = "") -> FlowRun:
        """A run not started yet is Cancelled at once; a started one goes Cancelling, its
        process group gets SIGTERM (SIGKILL after the grace period), and it is Cancelled
        when the process has gone."""
        if run.state.is_terminal:
            raise Conflict(f"flow run {run.name} is already {run.state.name}")
        if run.state.type == "SCHEDULED" or not run.pid:
            return await self.service.set_state(run, "Cancelled", message or "Flow run was cancelled")
        await self.service.set_state(run, "Cancelling", message or "Flow run is being cancelled")
        self.kill(run)
        return run

    def kill(self, run: FlowRun) -> None:
        if run.id in self._cancelling:
            return
        self._cancelling.add(run.id)
        self._signal(run, signal.SIGCONT)
        if not self._signal(run, signal.SIGTERM):
            asyncio.ensure_future(self.settle(run, None))
            return

        async def escalate() -> None:
            await asyncio.sleep(self.cancel_grace)
            if run.id in self._cancelling:
                self._signal(run, signal.SIGKILL)

        asyncio.ensure_future(escalate())

    async def suspend(self, run: FlowRun, message: str = "") -> FlowRun:
        """Stop the run's processes where they are (SIGSTOP); state Suspended."""
        if run.state.type not in ("RUNNING", "PENDING"):
            raise Conflict(f"flow run {run.name} is {run.state.name}; only a running run "
                           "can be suspended")
        self._signal(run, signal.SIGSTOP)
        return await self.service.set_state(run, "Suspended", message or "Flow run suspended")

    async def resume(self, run: FlowRun, message: str = "") -> FlowRun:
        if run.state.type != "PAUSED":
            raise Conflict(f"flow run {run.name} is {run.state.name}, not paused or suspended")
        self._signal(run, signal.SIGCONT)
        return await self.service.set_state(run, "Running", message)

    async def change_state(self, run: FlowRun, state_type: str, name: str | None,
                           message: str, force: bool) -> FlowRun:
        """change-flow-run-state: Cancelling really cancels, Paused really suspends, any other
        state is recorded as given (a finished run refuses unless forced)."""
        if not force and run.state.is_terminal:
            raise Conflict(f"flow run {run.name} is already {run.state.name}")
        if state_type == "CANCELLING" and run.state.type in ACTIVE_TYPES:
            return await self.cancel(run, message)
        if state_type == "PAUSED" and run.state.type in ("RUNNING", "PENDING"):
            self._signal(run, signal.SIGSTOP)
        elif run.state.type == "PAUSED" and state_type == "RUNNING":
            self._signal(run, signal.SIGCONT)
        return await self.service.set_state(run, name or "", message, state_type=state_type,
                                            force=force)

    # -- dispatch --------------------------------------------------------------------------
    def due_runs(self, now: datetime) -> list[tuple[FlowRun, Deployment]]:
        """Scheduled runs whose time has come, that the worker may start now: pool and queue
        not paused, concurrency limits not reached; by queue priority, then time."""
        svc = self.service
        pools_n, queues_n, deps_n = svc.active_counts()
        due = []
        for run in svc.runs.values():
            if run.state.type != "SCHEDULED" or run.expected_start_time > now:
                continue
            dep = svc.deployments.get(run.deployment_id or "")
            if dep is not None and dep.served_by is None:
                due.append((run, dep))
        due.sort(key=lambda rd: (self._priority(rd[0]), rd[0].expected_start_time))
        out = []
        for run, dep in due:
            queue = svc.queues.get(run.work_queue_id or "")
            pool = svc.pools.get(run.work_pool_id or "")
            if queue is None or pool is None or queue.is_paused or pool.is_paused:
                continue
            if (_full(pool.concurrency_limit, pools_n, pool.id)
                    or _full(queue.concurrency_limit, queues_n, queue.id)
                    or _full(dep.concurrency_limit, deps_n, dep.id)):
                continue
            for counts, key in ((pools_n, pool.id), (queues_n, queue.id), (deps_n, dep.id)):
                counts[key] = counts.get(key, 0) + 1
            out.append((run, dep))
        return out

    def _priority(self, run: FlowRun) -> int:
        queue = self.service.queues.get(run.work_queue_id or "")
        return queue.priority if queue else 1_000_000

    async def _dispatch_loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                due = self.due_runs(self.clock())
                if due:
                    await asyncio.gather(*(self.launch(r, d) for r, d in due))
            except Exception:
                log.exception("dispatching flow runs failed; will retry")
            try:
                await asyncio.wait_for(self._wake.wait(), self._until_next_run())
            except TimeoutError:
                pass

    def _until_next_run(self) -> float:
        now = self.clock()
        return _seconds_until([r.expected_start_time for r in self.service.runs.values()
                               if r.state.type == "SCHEDULED" and r.expected_start_time > now],
                              now)

    # -- schedules -------------------------------------------------------------------------
    async def schedule_tick(self, now: datetime) -> list[FlowRun]:
        """Create the runs every active schedule owes up to `now`; mark overdue runs Late."""
        created = []
        for dep in list(self.service.deployments.values()):
            if dep.paused or not dep.schedules:
                continue
            cursor = dep.schedule_cursor or now
            times = sorted({t for s in dep.schedules
                            for t in scheduler.times_between(s, cursor, now, dep.created)})
            for t in times:
                created.append(await self.service.create_run(
                    dep, scheduled_at=t, idempotency_key=f"scheduled {dep.id} {t.isoformat()}"))
            if times:  # the cursor moves (and is written) only when runs were made
                dep.schedule_cursor = times[-1]
                await self.service.save_deployment(dep)
        for run in list(self.service.runs.values()):
            if (run.state.name == "Scheduled"
                    and run.expected_start_time < now - self.late_after):
                await self.service.set_state(run, "Late")
        return created

    def _until_next_schedule(self, now: datetime) -> float:
        nexts = [scheduler.next_time(s, now, d.created) for d in self.service.deployments.values()
                 if not d.paused for s in d.schedules]
        return _seconds_until([t for t in nexts if t is not None], now)

    async def _schedule_loop(self) -> None:
        while True:
            try:
                await self.schedule_tick(self.clock())
                await self.service.reconcile_status()
            except Exception:
                log.exception("the jobs scheduler failed; will retry")
            await asyncio.sleep(self._until_next_schedule(self.clock()))


def _seconds_until(times: list[datetime], now: datetime) -> float:
    """How long a loop sleeps: until the earliest of `times`, between 5 ms and 1 s."""
    if not times:
        return 1.0
    return min(1.0, max(0.005, (min(times) - now).total_seconds()))


def _full(limit: int | None, counts: dict[str, int], key: str) -> bool:
    return limit is not None and counts.get(key, 0) >= limit
