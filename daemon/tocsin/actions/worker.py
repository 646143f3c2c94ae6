"""The worker that drains the action outbox: bounded concurrency, retries with exponential
backoff and jitter for failures that may pass, none for those that will not.

Delivery rule: an attempt's outcome event and the row's new state commit in one transaction
(`daemon.ingest(events, extra=...)`), after the action ran. A crash before that commit leaves
the row pending, so the action runs again after restart (at least once, with the same
idempotency key); once `done` is committed it never runs again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import InvalidInput
from ..events.model import Event
from ..templates import off_loop
from .context import load_objects, template_context, template_strings
from .events import outcome_events
from .executors import ActionResult, ActionRun, executor_for
from .model import parse_action
from .outbox import MARK_DONE, MARK_FAILED, MARK_RETRY, PRUNE, SELECT_DUE, Job, decode_job
from .render import render_fields
from .targets import ActionFailed, resolve_targets, target_resources

if TYPE_CHECKING:
    from ..config import ActionsConfig
    from ..server.daemon import Daemon

log = logging.getLogger("tocsin.actions")

RECENTLY_FINISHED = 10_000


class Outcome(msgspec.Struct, kw_only=True):
    ok: bool
    reason: str | None = None
    retry: bool = False
    details: dict[str, Any] = {}
    related: list[dict[str, str]] = []
    events: list[Event] = []


class OutboxWorker:
    """Runs the outbox's actions (a jobs `Worker` runs flow runs)."""

    def __init__(self, daemon: Daemon, settings: ActionsConfig) -> None:
        self.daemon = daemon
        self.settings = settings
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        #: keys queued, running or waiting for a retry: never queued twice
        self._known: set[str] = set()
        #: keys finished lately: a scan that read a row just before its outcome committed
        #: must not queue it again
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._running: set[asyncio.Task[None]] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.counts = {"executed": 0, "failed": 0, "retried": 0}

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._runner(), name=f"action-runner-{i}")
                       for i in range(self.settings.concurrency)]
        self._tasks.append(asyncio.create_task(self._scan_loop(), name="action-scan"))

    async def stop(self, grace: float = 5.0) -> None:
        """Let attempts in flight finish (briefly), then stop; what is left stays queued."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            if task.get_name() == "action-scan":
                task.cancel()
        if self._running:
            await asyncio.wait(self._running, timeout=grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def status(self) -> dict[str, Any]:
        return {"queued": self._queue.qsize(), "running": len(self._running),
                "waiting_retry": len(self._timers), **self.counts}

    # -- queueing ----------------------------------------------------------------------------
    def submit(self, jobs: list[Job]) -> int:
        """Queue committed jobs (skipping any already queued, running or just finished);
        returns how many were queued."""
        queued = 0
        for job in jobs:
            if job.key not in self._known and job.key not in self._finished:
                self._known.add(job.key)
                self._queue.put_nowait(job)
                queued += 1
        return queued

    async def scan(self, page: int = 1000) -> int:
        """Queue due rows the worker does not hold yet (after a restart, or as a safety net),
        a page at a time; returns how many were new."""
        now, after, queued = time.time(), (-1.0, -1), 0
        while True:
            rows = await self.daemon.store.read_sql(SELECT_DUE, (now, *after, page))
            queued += self.submit([decode_job(r[0], r[1]) for r in rows])
            if len(rows) < page:
                return queued
            after = (rows[-1][2], rows[-1][3])

    async def _scan_loop(self) -> None:
        while True:
            try:
                await self.scan()
                await self.daemon.store.run(
                    [(PRUNE, [(time.time() - self.settings.keep_done_s,)])])
            except Exception:
                log.exception("scanning the action outbox failed; will try again")
            await asyncio.sleep(self.settings.scan_interval_s)

    def _retry_later(self, job: Job, delay: float) -> None:
        def fire() -> None:
            self._timers.pop(job.key, None)
            self._queue.put_nowait(job)

        self._timers[job.key] = asyncio.get_running_loop().call_later(delay, fire)

    # -- running -----------------------------------------------------------------------------
    async def _runner(self) -> None:
        while True:
            job = await self._queue.get()
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            try:
                await self._attempt(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("recording action %s failed; it stays queued", job.key)
                self._known.discard(job.key)
            finally:
                self._running.discard(task)

    async def _attempt(self, job: Job) -> None:
        outcome = await self.execute(job)
        now = time.time()
        attempts = job.attempts + 1
        retry = outcome.retry and attempts < self.settings.max_attempts
        if outcome.ok:
            stmt = (MARK_DONE, [(attempts, now, job.firing_id, job.action_index)])
        elif retry:
            delay = self.settings.backoff(attempts)
            outcome.details["retry_in_s"] = round(delay, 3)
            stmt = (MARK_RETRY, [(attempts, now + delay, now, outcome.reason,
                                  job.firing_id, job.action_index)])
        else:
            stmt = (MARK_FAILED, [(attempts, now, outcome.reason, job.firing_id, job.action_index)])
        events = outcome.events + outcome_events(job, ok=outcome.ok, reason=outcome.reason,
                                                 details=outcome.details, results=outcome.related)
        await self.daemon.ingest(events, extra=[stmt])
        job.attempts = attempts
        if outcome.ok:
            self.counts["executed"] += 1
        elif retry:
            self.counts["retried"] += 1
            log.warning("action %s (%s) failed, retrying in %.1fs: %s", job.key,
                        job.action["type"], outcome.details["retry_in_s"], outcome.reason)
            self._retry_later(job, outcome.details["retry_in_s"])
            return
        else:
            self.counts["failed"] += 1
            log.warning("action %s (%s) failed: %s", job.key, job.action["type"], outcome.reason)
        self._finish(job.key)

    def _finish(self, key: str) -> None:
        self._known.discard(key)
        self._finished[key] = None
        if len(self._finished) > RECENTLY_FINISHED:
            self._finished.popitem(last=False)

    async def execute(self, job: Job) -> Outcome:
        """Run one attempt; every failure becomes an Outcome with its reason."""
        related: list[dict[str, str]] = []
        run: ActionRun | None = None
        #: the rendered fields go into the attempt's event, for `automation trace`
        rendered: dict[str, Any] | None = None
        try:
            action = parse_action(job.action)
            context = template_context(job.automation, job.firing, job.event)
            templates = template_strings(job.action)
            await load_objects(context, self.daemon, job.event, templates)
            targets = resolve_targets(action, job.event, job.firing.triggering_labels)
            related = target_resources(targets)
            # templates render on a worker thread: a slow one never holds up the daemon
            rendered = (await off_loop(render_fields, action, context) if templates
                        else render_fields(action, context))
            run = ActionRun(self.daemon, job, action, context, targets, rendered)
            result: ActionResult = await executor_for(action.type)(run)
        except ActionFailed as exc:
            details = exc.details if rendered is None else {**exc.details, "rendered": rendered}
            return Outcome(ok=False, reason=exc.reason, retry=exc.retry, details=details,
                           related=related + (run.related if run else []),
                           events=run.events if run else [])
        except InvalidInput as exc:  # queued by an older tocsin with other rules
            return Outcome(ok=False, reason=f"the queued action is not valid: {exc}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in an executor: say so, and try again later
            log.exception("action %s raised", job.key)
            return Outcome(ok=False, reason=f"internal error: {type(exc).__name__}: {exc}",
                           retry=True, related=related)
        return Outcome(ok=True, details={**result.details, "rendered": rendered},
                       related=related + run.related + result.related, events=run.events)
