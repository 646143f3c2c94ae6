"""The engine inside the daemon: evaluates committed events, keeps one timer, saves state.

One worker task does all evaluation, in commit order: events handed over by the bus
listener, then the clock (every deadline up to now). After each round it commits, in ONE
transaction, the firings' state-change events, the changed state rows, the actions they make
due and the seq of the last evaluated event — so a crash loses nothing and repeats nothing.
One asyncio timer is armed for the engine's earliest deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from aiohttp import web

from ..errors import InvalidInput
from ..events.model import Event
from ..events.store import Statements, decode_row
from ..firing import Firing
from ..server.component import Component
from . import persist
from .clock import to_datetime
from .emitted import actions_for, loop_guard_event, state_change_event
from .engine import Engine
from .model import Automation

if TYPE_CHECKING:
    from ..config import Config
    from ..server.daemon import Daemon

log = logging.getLogger("tocsin.engine")


class ActionQueue(Protocol):
    """What the engine needs of the actions part (its ActionsComponent): the rows that
    queue a firing's actions, committed in the firing's own transaction."""

    def outbox_statements(self, firing: Firing, automation: Automation,
                          state_change_event: Event | None) -> Statements: ...


class Change(NamedTuple):
    """One automation for `EngineComponent.save_all`: stored with its lifecycle event (None:
    left as it is, only its source kept), its source text, and whether its windows start
    over (`replace`)."""

    automation: Automation
    lifecycle: Event | None
    source: str | None
    replace: bool = False


CATCH_UP_CHUNK = 5_000
#: how often firing records older than the event retention are removed (seconds)
PRUNE_EVERY = 600.0
MAX_WRITES_IN_FLIGHT = 8
#: most seconds the "last evaluated event" marker lags when evaluation changes nothing
MARK_EVERY = 1.0


class EngineComponent(Component):
    name = "engine"
    schema = persist.SCHEMA

    def __init__(self, actions: ActionQueue | None = None) -> None:
        """`actions`: where firings queue their actions (none: firings are recorded, and
        their actions never run)."""
        self.actions = actions
        self.engine = Engine()
        self.automations: dict[str, Automation] = {}
        self.daemon: Daemon | None = None
        self._pending: list[Event] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.evaluated = 0
        self.fired = 0
        self._next_prune = 0.0
        self._writes: list[asyncio.Future[None]] = []
        self._next_mark = 0.0

    # -- lifecycle -------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        from . import api, explain_api

        return explain_api.routes() + api.routes()

    def publish(self, app: web.Application) -> None:
        app[ENGINE] = self

    async def start(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self._configure(daemon.config)
        daemon.bus.add_listener(self._on_commit)
        await self._restore()
        self._task = asyncio.create_task(self._work(), name="engine")
        self.kick()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._writes:
            await asyncio.gather(*self._writes)

    async def reload(self, config: Config) -> None:
        self._configure(config)

    def _configure(self, config: Config) -> None:
        self.engine.configure(idle_ttl=config.engine.idle_ttl,
                              loop_depth=config.engine.loop_depth or None,
                              near_misses=config.engine.near_misses)

    def status(self) -> dict[str, Any]:
        deadline = self.engine.next_deadline()
        stats = self.engine.stats()
        return {"automations": len(self.automations), "buckets": stats.buckets,
                "waiting_followers": stats.followers,
                "evaluated": self.evaluated, "fired": self.fired,
                "next_deadline": persist.iso(deadline)}

    # -- restoring after a restart or a crash ------------------------------------------------
    async def _restore(self) -> None:
        store = self._store()
        meta = dict(await store.read_sql("SELECT k, v FROM engine_meta"))
        last_seq = int(meta.get("last_seq") or 0)
        clock = float(meta.get("clock") or time.time())
        self.engine.restore_clock(clock)
        for (data,) in await store.read_sql("SELECT data FROM automations"):
            try:
                automation = persist.decode_automation(data)
            except InvalidInput as exc:
                log.error("a stored automation no longer validates and is not loaded: %s", exc)
                continue
            self.automations[automation.id or ""] = automation
            self.engine.load(automation, clock)
        await self._restore_state(store)
        newest = await store.read_sql(
            "SELECT id FROM events WHERE seq <= ? ORDER BY seq DESC LIMIT 10000", (last_seq,))
        self.engine.restore_seen((uuid.UUID(eid) for (eid,) in reversed(newest)), clock)
        caught_up = await self._catch_up(last_seq)
        if caught_up:
            log.info("re-evaluated %d committed events the saved state had not seen", caught_up)

    async def _restore_state(self, store: Any) -> None:
        """The saved records, a chunk per query so no read holds a snapshot for long; the
        next chunk of buckets is read while this one is decoded and filed."""
        chunk = persist.RESTORE_CHUNK
        reading = asyncio.ensure_future(store.read_sql(persist.SELECT_BUCKETS, (0, chunk)))
        while True:
            ((last, array),) = await reading
            if last is None:
                break
            reading = asyncio.ensure_future(store.read_sql(persist.SELECT_BUCKETS, (last, chunk)))
            with _collector_paused():
                persist.restore_buckets(self.engine, array)
        after = 0
        while rows := await store.read_sql(persist.SELECT_STATE, (after, chunk)):
            after = rows[-1][0]
            with _collector_paused():
                persist.restore(self.engine, [row[1:] for row in rows])

    async def _catch_up(self, last_seq: int) -> int:
        """Evaluate committed events after `last_seq` (lost to a crash before their state was
        saved), saving as we go."""
        store = self._store()
        total = 0
        while True:
            rows = await store.read_sql(
                "SELECT seq, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                (last_seq, CATCH_UP_CHUNK))
            if not rows:
                return total
            events = [decode_row(data) for _, data in rows]
            last_seq = rows[-1][0]
            total += len(events)
            await self._round(events)

    # -- the worker ------------------------------------------------------------------------
    def _on_commit(self, events: list[Event]) -> None:
        self._pending.extend(events)
        self._wake.set()

    def kick(self) -> None:
        """Wake the worker (new events, a deadline, or a change made through the API)."""
        self._wake.set()

    async def _work(self) -> None:
        """Evaluate, then hand the round's write to the store without waiting for it: the
        store commits writes in the order they were queued, so the next round can evaluate
        while this one commits (a few rounds in flight at most)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            events, self._pending = self._pending, []
            try:
                write = self._round(events, tick=True)
            except Exception:
                log.exception("engine round failed; its events stay unevaluated until restart")
                continue
            self._writes = [w for w in self._writes if not w.done()]
            self._writes.append(asyncio.ensure_future(self._logged(write)))
            if len(self._writes) > MAX_WRITES_IN_FLIGHT:
                await self._writes[0]
            self._arm_timer()

    @staticmethod
    async def _logged(write: Any) -> None:
        try:
            await write
        except Exception:
            log.exception("saving engine state failed; committed events since the last save "
                          "will be evaluated again at the next start")

    def _round(self, events: list[Event], tick: bool = False) -> Any:
        """Evaluate events (then the clock); returns the awaitable that commits the result."""
        engine = self.engine
        firings: list[Firing] = []
        for stamp, same in itertools.groupby(events, key=lambda e: e.received):
            received = stamp.timestamp() if stamp else engine.now  # one per commit
            firings.extend(engine.process_all(list(same), received))
        if tick:
            firings.extend(engine.advance(time.time()))
        self.evaluated += len(events)
        return self._commit(firings, str(events[-1].id) if events else None)

    def _commit(self, firings: list[Firing], last_event_id: str | None) -> Any:
        """The round's events and rows, queued on the store as one transaction."""
        out_events: list[Event] = []
        extra: Statements = []
        for automation_id, reason, chain in self.engine.take_paused():
            automation = self.automations[automation_id]
            automation.enabled = False
            log.warning("automation %r paused: %s", automation.name, reason)
            extra.append((persist.UPSERT_AUTOMATION, [persist.automation_row(automation)]))
            names = {aid: a.name for aid, a in self.automations.items()}
            out_events.append(loop_guard_event(automation, reason, chain, names,
                                               to_datetime(self.engine.now)))
        firing_rows = []
        for firing in firings:
            automation = self.automations.get(firing.automation_id)
            if automation is None:
                continue
            event = state_change_event(automation, firing)
            out_events.append(event)
            firing_rows.append(persist.firing_row(firing, str(event.id),
                                                  actions_for(automation, firing)))
            if self.actions is not None:
                extra.extend(self.actions.outbox_statements(firing, automation, event))
        if firing_rows:
            extra.append((persist.INSERT_FIRING, firing_rows))
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + PRUNE_EVERY
            cutoff = time.time() - self._store().retention.total_seconds()
            extra.append(("DELETE FROM automation_firings WHERE at < ?", [(cutoff,)]))
        self.fired += len(firings)
        if not out_events and not extra and not self.engine.has_changes \
                and time.monotonic() < self._next_mark:
            # Nothing changed: re-evaluating these events after a crash would change nothing
            # either, so the progress marker may lag (by a second at most).
            return _nothing()
        self._next_mark = time.monotonic() + MARK_EVERY
        extra.extend(persist.state_statements(self.engine, last_event_id))
        daemon = self.daemon
        assert daemon is not None
        if out_events:
            return daemon.ingest(out_events, extra=extra)
        return daemon.store.run(extra)

    def _arm_timer(self) -> None:
        """One timer, for the earliest deadline."""
        deadline = self.engine.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, deadline - time.time())
        self._timer = loop.call_at(loop.time() + delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.kick()

    def _store(self) -> Any:
        assert self.daemon is not None
        return self.daemon.store

    # -- what the API calls ----------------------------------------------------------------
    def automation(self, automation_id: str) -> Automation | None:
        return self.automations.get(automation_id)

    def by_name(self, name: str) -> Automation | None:
        return next((a for a in self.automations.values() if a.name == name), None)

    def all_automations(self) -> list[Automation]:
        """Every stored automation, by name."""
        return sorted(self.automations.values(), key=lambda a: a.name)

    async def save(self, automation: Automation, lifecycle: Event, *, source: str | None = None,
                   replace: bool = False) -> None:
        """Store an automation with its lifecycle event and the text it was written in (None:
        none, or no longer), then (re)load it into the engine."""
        await self.save_all([Change(automation, lifecycle, source, replace)])

    async def save_all(self, changes: list[Change]) -> None:
        """`save` for many in one transaction (all or nothing, one commit). A change that
        keeps the automation (`lifecycle` None) stores only its source: windows are kept."""
        assert self.daemon is not None
        if not changes:
            return
        stored = [c for c in changes if c.lifecycle is not None]
        extra: Statements = []
        if stored:
            extra.append((persist.UPSERT_AUTOMATION,
                          [persist.automation_row(c.automation) for c in stored]))
        extra.extend(persist.source_statements(
            [(c.automation.id or "", c.source) for c in changes]))
        replaced = [(c.automation.id,) for c in stored if c.replace]
        if replaced:
            extra.append(("DELETE FROM engine_state WHERE automation_id = ?", replaced))
        await self.daemon.ingest([c.lifecycle for c in stored if c.lifecycle is not None],
                                 extra=extra)
        now = time.time()
        for change in stored:
            assert change.automation.id is not None
            self.automations[change.automation.id] = change.automation
            self.engine.load(change.automation, now)
        self.kick()

    async def set_enabled(self, automation: Automation, enabled: bool, lifecycle: Event) -> None:
        assert self.daemon is not None and automation.id is not None
        self.engine.set_enabled(automation.id, enabled, time.time())
        automation.enabled = enabled
        lifecycle.payload["enabled"] = enabled  # callers build it before the change
        await self.daemon.ingest([lifecycle], extra=[
            (persist.UPSERT_AUTOMATION, [persist.automation_row(automation)])])
        self.kick()

    async def delete(self, automation: Automation, lifecycle: Event) -> None:
        assert self.daemon is not None and automation.id is not None
        self.engine.unload(automation.id)
        self.automations.pop(automation.id, None)
        await self.daemon.ingest([lifecycle],
                                 extra=persist.delete_automation_statements(automation.id))
        self.kick()


#: Where the socket API's handlers (and the Prefect API's) find the automations part.
ENGINE = web.AppKey("engine", EngineComponent)


async def _nothing() -> None:
    """The write of a round that changed nothing."""


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """A million new long-lived objects at restore: cycle collection would rescan them over
    and over while they are created, and they hold none."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
