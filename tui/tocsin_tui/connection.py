"""The dashboard's one link to the daemon: an AsyncClient, the live stream and its retries.

The stream loop only appends to the feed buffer's inbox (no UI work on the network path)
and reports its state through a callback; when the daemon goes away it waits and retries
for as long as the dashboard runs, asking for a backfill on reconnect so that events sent
while it was away still show (the buffer drops the ones it already has).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tocsin.client.aio import AsyncClient
from tocsin.client.resources import Call
from tocsin.errors import ApiError, DaemonNotRunning

from .autostart import start_daemon
from .feed_buffer import FeedBuffer

# Errors that mean "the daemon is not reachable right now", as opposed to bugs: the client
# turns every connection failure and timeout into this one.
OFFLINE_ERRORS = (DaemonNotRunning,)

FIRST_BACKFILL = 500
RECONNECT_BACKFILL = 2_000
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)
YIELD_EVERY = 100


class Connection:
    def __init__(self, socket_path: str | None = None) -> None:
        self.client = AsyncClient(socket_path, timeout=10.0)
        self.connected = False
        self.started: subprocess.Popen[bytes] | None = None
        self.started_log: Path | None = None

    @property
    def socket_path(self) -> str:
        return self.client.socket_path

    async def ensure_daemon(self, autostart: bool) -> bool:
        """True if a daemon answers (after starting one when allowed and needed)."""
        try:
            await self.client.health()
            return True
        except OFFLINE_ERRORS:
            if not autostart:
                return False
        self.started, self.started_log = await start_daemon(self.client)
        return True

    async def follow(self, buffer: FeedBuffer, on_state: Callable[[bool, str], None]) -> None:
        """Stream live events into `buffer.inbox` forever, reconnecting when the link drops."""
        backfill = FIRST_BACKFILL
        failures = 0
        while True:
            if await self._probe(on_state):
                failures = 0
            try:
                async for event in self.client.stream(backfill=backfill):
                    buffer.inbox.append(event)
                    if len(buffer.inbox) % YIELD_EVERY == 0:
                        await asyncio.sleep(0)  # buffered messages never suspend: let the UI in
                reason = "the daemon closed the stream"
            except ApiError:
                # Cut off for falling behind: still connected; catch up from the store.
                backfill = RECONNECT_BACKFILL
                await asyncio.sleep(RETRY_DELAYS[0])
                continue
            except OFFLINE_ERRORS as exc:
                reason = _describe(exc)
            self._set(False, reason, on_state)
            backfill = RECONNECT_BACKFILL
            await asyncio.sleep(RETRY_DELAYS[min(failures, len(RETRY_DELAYS) - 1)])
            failures += 1

    async def _probe(self, on_state: Callable[[bool, str], None]) -> bool:
        """Mark the link up as soon as /health answers, before any event arrives."""
        try:
            await self.client.health()
        except OFFLINE_ERRORS:
            return False
        self._set(True, "", on_state)
        return True

    def _set(self, connected: bool, reason: str, on_state: Callable[[bool, str], None]) -> None:
        if connected != self.connected or not connected:
            self.connected = connected
            on_state(connected, reason)

    async def send(self, call: Call) -> Any:
        """Run a described call (`API.automations.list()`, see tocsin.client.resources)."""
        return await self.client.send(call)

    async def close(self) -> None:
        await self.client.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, DaemonNotRunning):
        return "no daemon answers on the socket"
    return str(exc) or type(exc).__name__
