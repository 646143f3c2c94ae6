"""The actions part of the daemon: the outbox tables, the worker, blocks and their routes.

The engine asks `outbox_statements` for the rows that queue a firing's actions and commits
them with the firing's state-change event. Once that commit is published on the bus, the
listener hands the jobs staged for it straight to the worker (no read back from SQLite); a
periodic scan picks up anything else that is due (after a restart, or a retry timer lost).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .. import templates
from ..automations.firing import Firing
from ..config import ActionsConfig, Config
from ..events.model import Event
from ..events.store import Statements
from ..server.component import Component
from . import executors, notify, webhook  # noqa: F401  (they register their executors)
from .blocks import SCHEMA as BLOCKS_SCHEMA
from .blocks import BlockStore
from .outbox import SCHEMA as OUTBOX_SCHEMA
from .outbox import Job, insert_statements, jobs_for_firing
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
        #: state-change event id -> (jobs, when staged)
        self._staged: dict[str, tuple[list[Job], float]] = {}

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
        self.worker = OutboxWorker(daemon, self.settings)
        daemon.bus.add_listener(self._on_commit)
        await self.worker.start()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
        await webhook.close_session()

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
