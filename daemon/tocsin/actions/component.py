"""The actions part of the daemon: the outbox tables, the worker, blocks and their routes.

The engine asks `outbox_statements` for the rows that queue a firing's actions and commits
them with the firing's state-change event. Once that commit is published on the bus, the
listener hands the jobs staged for it straight to the worker (no read back from SQLite); a
periodic scan picks up anything else that is due (after a restart, or a retry timer lost).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import templates
from ..config import ActionsConfig, Config
from ..events.model import Event
from ..events.store import Statements
from ..firing import Firing
from ..server.component import Component
from .blocks import SCHEMA as BLOCKS_SCHEMA
from .blocks import BlockStore
from .context import LazyLoader
from .executors import Executor, do_nothing
from .notify import send_notification
from .outbox import SCHEMA as OUTBOX_SCHEMA
from .outbox import Job, insert_statements, jobs_for_firing
from .webhook import call_webhook, close_session
from .worker import OutboxWorker

if TYPE_CHECKING:
    from ..server.daemon import Daemon

log = logging.getLogger("tocsin.actions")

# Jobs staged for a commit that never happened are dropped after this long (the scan would
# have found them if they had been committed).
STAGED_TTL_S = 120.0


class ActionsComponent(Component):
    name = "actions"
    schema = OUTBOX_SCHEMA + BLOCKS_SCHEMA

    def __init__(self) -> None:
        self.daemon: Daemon | None = None
        self.blocks = BlockStore()
        self.worker: OutboxWorker | None = None
        self.settings = ActionsConfig()
        #: action type -> what runs it: the built-in ones, then those of other parts
        self.executors: dict[str, Executor] = {
            "do-nothing": do_nothing, "call-webhook": call_webhook,
            "send-notification": send_notification}
        #: objects templates may name (`flow_run`, `deployment`...) -> their loader
        self.objects: dict[str, LazyLoader] = {}
        #: state-change event id -> (jobs, when staged)
        self._staged: dict[str, tuple[list[Job], float]] = {}

    # -- what other parts add (the composition root calls these before start) --------------
    def add_executors(self, executors: Mapping[str, Executor]) -> None:
        """Run actions of these types (e.g. "run-deployment") with these executors."""
        self.executors.update(executors)

    def add_objects(self, loaders: Mapping[str, LazyLoader]) -> None:
        """Let templates name these objects (e.g. "flow_run"), each loaded only when one
        does (see `context.load_objects`)."""
        self.objects.update(loaders)

    # -- the engine's entry point ------------------------------------------------------------
    def outbox_statements(self, firing: Firing, automation: Any,
                          state_change_event: Event | None) -> Statements:
        """Rows queuing the firing's actions, to commit in the firing's own transaction."""
        jobs = jobs_for_firing(firing, automation, state_change_event)
        if not jobs:
            return []
        if state_change_event is not None:
            if len(self._staged) > 10_000:
                self._drop_stale_staged()
            self._staged[str(state_change_event.id)] = (jobs, time.monotonic())
        return insert_statements(jobs)

    def _on_commit(self, events: list[Event]) -> None:
        if not self._staged or self.worker is None:
            return
        for event in events:
            staged = self._staged.pop(str(event.id), None)
            if staged is not None:
                self.worker.submit(staged[0])

    def _drop_stale_staged(self) -> None:
        cutoff = time.monotonic() - STAGED_TTL_S
        for key in [k for k, (_, at) in self._staged.items() if at < cutoff]:
            del self._staged[key]

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.settings = daemon.config.actions
        templates.configure(self.settings.ui_url)
        await self.blocks.load(daemon.store)
        self.worker = OutboxWorker(daemon, self.settings, self.blocks, self.executors,
                                   self.objects)
        daemon.bus.add_listener(self._on_commit)
        await self.worker.start()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
        await close_session()

    async def reload(self, config: Config) -> None:
        self.settings = config.actions
        templates.configure(self.settings.ui_url)
        if self.worker is not None:
            self.worker.settings = self.settings
        self._drop_stale_staged()

    def status(self) -> dict[str, Any]:
        worker = self.worker.status() if self.worker is not None else {}
        return {**worker, "blocks": len(self.blocks.list())}

    def routes(self) -> list[web.RouteDef]:
        from .api import routes

        return routes()

    def publish(self, app: web.Application) -> None:
        app[ACTIONS] = self


#: Where the socket API's handlers find the actions part.
ACTIONS = web.AppKey("actions", ActionsComponent)
