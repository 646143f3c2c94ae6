"""An asyncio client (aiohttp over the Unix socket), with the websocket streams.

Callers see tocsin's errors only, never aiohttp's: a daemon that cannot be reached, goes
away mid-request or does not answer in time is DaemonNotRunning, so the dashboard (which
never imports aiohttp) can tell "offline" from a refusal (ApiError) and from a bug.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from ..errors import DaemonNotRunning, InvalidInput, ReaderDropped, from_answer
from .resources import Call, Resources
from .sync import default_socket_path

# What a request or stream raises when the daemon is not there (or stops answering).
_UNREACHABLE = (aiohttp.ClientError, OSError, asyncio.TimeoutError)


class AsyncClient(Resources):
    """The API by resource, as the sync client has it (see resources.py), each call a
    coroutine: `await aclient.automations.list()`."""

    def __init__(self, socket_path: str | Path | None = None, timeout: float = 30.0) -> None:
        super().__init__(self.send)
        self.socket_path = str(socket_path or default_socket_path())
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=self.socket_path), timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send(self, call: Call) -> Any:
        """Run one described call (see resources.py): its decoded answer."""
        return await self.request(*call)

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        status, payload = await self.request_status(method, path, body)
        if status >= 400:
            raise from_answer(status, payload)
        return payload

    async def request_status(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """(status, decoded body) whatever the status: for callers that read a whole error
        body (e.g. the line of a template error), not just its `detail`."""
        try:
            async with self.session.request(method, f"http://tocsin{path}",
                                            json=body) as resp:
                raw = await resp.read()
        except _UNREACHABLE:
            raise DaemonNotRunning(self.socket_path) from None
        return resp.status, (json.loads(raw) if raw else None)

    async def stream(self, filter: dict[str, Any] | None = None,
                     backfill: int = 0) -> AsyncIterator[dict[str, Any]]:
        """Live events from `/events/out` (after commit), optionally after recent history.

        Yields event dicts; raises ReaderDropped if the daemon cuts this reader off for
        lagging, InvalidInput if it refuses the filter, DaemonNotRunning if it cannot be
        reached or the link breaks.
        """
        try:
            ws = await self.session.ws_connect("http://tocsin/events/out", heartbeat=30)
        except _UNREACHABLE:
            raise DaemonNotRunning(self.socket_path) from None
        async with ws:
            try:
                await ws.send_str(json.dumps({"filter": filter or {}, "backfill": backfill}))
                async for msg in ws:
                    if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        break
                    data = json.loads(msg.data)
                    if data.get("type") == "event":
                        yield data["event"]
                    elif data.get("type") == "dropped":
                        raise from_answer(ReaderDropped.status, data)
                    elif data.get("type") == "error":  # the daemon refused the filter
                        raise from_answer(InvalidInput.status, data)
            except _UNREACHABLE:
                raise DaemonNotRunning(self.socket_path) from None

    async def send_stream(self, batches: AsyncIterator[list[dict[str, Any]]] | list[bytes]) -> None:
        """Send events over `/events/in`; returns once the daemon has committed them all."""
        try:
            ws = await self.session.ws_connect("http://tocsin/events/in")
        except _UNREACHABLE:
            raise DaemonNotRunning(self.socket_path) from None
        async with ws:
            if isinstance(batches, list):
                for raw in batches:
                    await ws.send_bytes(raw)
            else:
                async for batch in batches:
                    await ws.send_str(json.dumps(batch))
            await ws.close()
