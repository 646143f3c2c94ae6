"""A tailer rig for the tests: real files in a temp dir, a real EventStore on a temp SQLite
file, and the real Watcher loop in one of the three wake modes (inotify hints, watchfiles'
poller, the reconcile tick alone). No tests here; the test_tail_* modules use it."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import time
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from tocsin.events.model import Event
from tocsin.events.store import EventStore
from tocsin.sources import checkpoints
from tocsin.sources.lines import REJECTED_EVENT
from tocsin.sources.tailer import SourceSpec, TailSource
from tocsin.sources.watch import Watcher

# Wake modes and the reconcile tick each runs with (inotify and polling keep a slow tick so
# that the hints, not the tick, are what the test leans on most of the time).
MODES = {"events": 0.2, "polling": 0.2, "none": 0.1}

_decoder = msgspec.json.Decoder(Event)


def line(n: int, **extra: Any) -> bytes:
    event = {"event": "test.line", "resource": {"prefect.resource.id": "test.r"},
             "payload": {"n": n, **extra}}
    return (json.dumps(event) + "\n").encode()


def lines(ns: range | list[int]) -> bytes:
    return b"".join(line(n) for n in ns)


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


class Rig:
    def __init__(self, tmp: Path, mode: str) -> None:
        self.dir = tmp
        self.mode = mode
        self.tick = MODES[mode]
        self.store = EventStore(tmp / "store.db")
        self.specs: list[SourceSpec] = []
        self.sources: list[TailSource] = []
        self.watcher: Watcher | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> Rig:
        await self.store.open([checkpoints.SCHEMA])
        return self

    def spec(self, path: str = "app.log", name: str = "app", **kw: Any) -> SourceSpec:
        kw.setdefault("start", "beginning")
        kw.setdefault("rotate_wait", 0.5)
        spec = SourceSpec(name=name, path=str(self.dir / path), **kw)
        self.specs.append(spec)
        return spec

    async def tailing(self, count: int) -> Path:
        """`app.log` with lines 0..count-1, tailed by the default spec until all are stored."""
        log = self.dir / "app.log"
        append(log, lines(range(count)))
        self.spec()
        await self.start()
        await self.wait_for(count)
        return log

    async def start(self) -> Rig:
        self.sources = [TailSource(s, self._commit, self.store.read_sql) for s in self.specs]
        self.watcher = Watcher(self.sources, mode=self.mode, tick=self.tick)
        self._task = asyncio.create_task(self.watcher.run())
        return self

    def _commit(self, events: list[Event], extra: Any) -> Callable[[], Awaitable[Any]]:
        return functools.partial(self.store.submit, self.store.prepare(events, extra=extra))

    async def stop(self) -> None:
        if self.watcher is not None and self._task is not None:
            await self.watcher.stop()
            await self._task
            for s in self.sources:
                s.close()
            self.watcher = self._task = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def close(self) -> None:
        await self.stop()
        await self.store.close()

    # -- looking at what was stored --------------------------------------------------------
    async def events(self) -> list[Event]:
        rows = await self.store.read_sql("SELECT data FROM events ORDER BY seq")
        return [_decoder.decode(r[0]) for r in rows]

    async def ns(self) -> list[int]:
        return [e.payload["n"] for e in await self.events() if e.event != REJECTED_EVENT]

    async def rejected(self) -> list[Event]:
        return [e for e in await self.events() if e.event == REJECTED_EVENT]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[int]:
        """Stored line numbers once at least `count` are there (then one more poll, so that
        any extra would show)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = await self.store.read_sql("SELECT count(*) FROM events WHERE name NOT IN "
                "(SELECT id FROM event_names WHERE name = ?)",
                                             [REJECTED_EVENT])
            if rows[0][0] >= count:
                await self.settle()
                return await self.ns()
            await asyncio.sleep(0.01)
        raise AssertionError(f"only {len(await self.ns())} of {count} lines stored "
                             f"within {timeout}s: {self.status()}")

    async def settle(self, polls: int = 2) -> None:
        """Wait for `polls` more complete polls, asking for each at once (the wake mode under
        test has already shown it notices the change; this only makes sure nothing more
        would be read)."""
        assert self.watcher is not None
        target = self.watcher.polls + polls
        deadline = time.monotonic() + 10
        while self.watcher.polls < target and time.monotonic() < deadline:
            self.watcher.kick()
            await asyncio.sleep(0.005)

    def status(self) -> dict[str, Any]:
        return {s.spec.name: s.status() for s in self.sources}

    async def checkpoint_rows(self) -> list[Any]:
        return await self.store.read_sql("SELECT source, path, offset FROM tail_checkpoints")


def inode(path: Path) -> int:
    return os.stat(path).st_ino
