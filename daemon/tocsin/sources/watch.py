"""The `watch` component: runs every tailed source (the `[[watch]]` tables and the spool).

inotify (through watchfiles, on the parent directories) only says "look now"; a tick of at
most a second polls every source anyway, so a dropped or coalesced batch, a poller that
misses appends, or no inotify at all changes latency, never what is read
(log-watching.md §7 rules 1 and 10). `TOCSIN_WATCH_MODE` = `events` (default), `polling`
(watchfiles' poller) or `none` (the tick alone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..server.component import Component
from . import checkpoints
from .spool import SPOOL_NAME
from .spool_tail import SpoolTail
from .tailer import SourceSpec, TailSource

if TYPE_CHECKING:
    from ..config import Config
    from ..server.daemon import Daemon

log = logging.getLogger("tocsin.watch")

TICK_SECONDS = 1.0
SPOOL_SOURCE = "spool"
MODES = ("events", "polling", "none")


class Watcher:
    """Polls its sources whenever inotify hints at a change, and every `tick` regardless."""

    def __init__(self, sources: list[TailSource], mode: str = "events",
                 tick: float = TICK_SECONDS) -> None:
        if mode not in MODES:
            raise ValueError(f"watch mode {mode!r} is not one of {', '.join(MODES)}")
        self.sources = sources
        self.mode = mode
        self.tick = tick
        self.polls = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._lock = asyncio.Lock()
        self._hint_stop: asyncio.Event | None = None
        self._hint_task: asyncio.Task[None] | None = None
        self._hint_dirs: set[str] = set()

    async def run(self) -> None:
        try:
            while not self._stopping:
                await self.poll_until_idle()
                self._follow_dirs()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.tick)
                self._wake.clear()
        finally:
            await self._stop_hints()
            for source in self.sources:
                await source.settle()

    async def poll_until_idle(self) -> None:
        """Poll every source, again and again while any still has lines waiting (a reload
        or a pause gets in between two rounds, not only after a long backlog)."""
        more = True
        while more and not self._stopping:
            more = False
            async with self._lock:
                for source in self.sources:
                    try:
                        more |= await source.poll()
                    except Exception as exc:  # one broken source never stops the others
                        log.exception("source %s: poll failed", source.spec.name)
                        source.counters.last_error = f"poll failed: {exc}"
            self.polls += 1

    async def replace(self, sources: list[TailSource]) -> list[TailSource]:
        """Swap the source list between polls; returns the sources no longer used."""
        async with self._lock:
            old = [s for s in self.sources if s not in sources]
            for source in old:  # its last batch committed before a successor reads checkpoints
                await source.settle()
            self.sources = sources
        self._wake.set()
        return old

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """Hold every poll while the body runs (tests; a future `tocsin watch pause`)."""
        async with self._lock:
            yield

    def kick(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    # -- inotify hints ---------------------------------------------------------------------
    def _follow_dirs(self) -> None:
        if self.mode == "none":
            return
        dirs: set[str] = set()
        for source in self.sources:
            dirs |= source.dirs()
        if dirs == self._hint_dirs and self._hint_task is not None and not self._hint_task.done():
            return
        if self._hint_stop is not None:
            self._hint_stop.set()
        self._hint_dirs = dirs
        self._hint_task = None
        if dirs:
            self._hint_stop = asyncio.Event()
            self._hint_task = asyncio.create_task(self._hints(sorted(dirs), self._hint_stop),
                                                  name="watch-hints")

    async def _hints(self, dirs: list[str], stop: asyncio.Event) -> None:
        from watchfiles import awatch

        def wanted(_change: Any, path: str) -> bool:
            return any(s.wants(path) for s in self.sources)

        try:
            async for _ in awatch(*dirs, watch_filter=wanted, recursive=False, step=10,
                                  debounce=50, rust_timeout=1000, stop_event=stop,
                                  force_polling=self.mode == "polling", poll_delay_ms=100):
                self._wake.set()
        except Exception as exc:  # noqa: BLE001 - the tick still runs
            log.info("inotify hints stopped (%s); the %.1fs tick goes on", exc, self.tick)

    async def _stop_hints(self) -> None:
        if self._hint_stop is not None:
            self._hint_stop.set()
        if self._hint_task is not None:
            try:
                await asyncio.wait_for(self._hint_task, 2.0)
            except (TimeoutError, asyncio.CancelledError):
                self._hint_task.cancel()


def spool_spec(home: os.PathLike[str] | str) -> SourceSpec:
    """The spool is a JSONL source like any other, read from its beginning."""
    return SourceSpec(name=SPOOL_SOURCE, path=os.path.join(os.fspath(home), SPOOL_NAME),
                      format="jsonl", start="beginning", rotate_wait=1.0)


class WatchComponent(Component):
    """Tails the configured event logs and the spool into the store; reloads on SIGHUP."""

    name = "watch"
    schema = checkpoints.SCHEMA

    def __init__(self) -> None:
        self._daemon: Daemon | None = None
        self.watcher: Watcher | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, daemon: Daemon) -> None:
        self._daemon = daemon
        mode = os.environ.get("TOCSIN_WATCH_MODE", "events")
        if mode not in MODES:
            from ..errors import ConfigError

            raise ConfigError(f"TOCSIN_WATCH_MODE={mode!r} is not one of {', '.join(MODES)}")
        self.watcher = Watcher(self._sources(daemon.config, []), mode=mode)
        self._task = asyncio.create_task(self.watcher.run(), name="watch")

    def _sources(self, config: Config, current: list[TailSource]) -> list[TailSource]:
        """One TailSource per spec; an unchanged spec keeps its running source."""
        assert self._daemon is not None
        config_file = self._daemon.paths.config
        base = os.path.dirname(os.path.abspath(config_file)) if config_file else None
        specs = [SourceSpec.from_config(w, base) for w in config.watch]
        specs.append(spool_spec(self._daemon.paths.home))
        running = {s.spec: s for s in current}
        return [running.get(spec) or self._tail(spec) for spec in specs]

    def _tail(self, spec: SourceSpec) -> TailSource:
        assert self._daemon is not None
        kind = SpoolTail if spec.name == SPOOL_SOURCE else TailSource
        return kind(spec, self._commit, self._daemon.store.read_sql)

    def _commit(self, events: list[Any], extra: Any) -> Callable[[], Awaitable[Any]]:
        assert self._daemon is not None
        return self._daemon.prepared(events, extra=extra)

    async def reload(self, config: Config) -> None:
        if self.watcher is None:
            return
        for source in await self.watcher.replace(self._sources(config, self.watcher.sources)):
            source.close()

    async def stop(self) -> None:
        if self.watcher is None or self._task is None:
            return
        await self.watcher.stop()
        await self._task
        for source in self.watcher.sources:
            source.close()

    def status(self) -> dict[str, Any]:
        if self.watcher is None:
            return {}
        return {s.spec.name: s.status() for s in self.watcher.sources}
