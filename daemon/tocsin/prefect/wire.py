"""A small client for a Prefect server's API: what `[[forward]]`, `[[subscribe]]` and
`automation push/pull` need, and nothing else.

The API key (Prefect Cloud's, or a self-hosted server's auth string) goes in
`Authorization: Bearer` for HTTP and as the `token` of the websocket `auth` message.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import msgspec

from ..errors import ConfigError, TocsinError
from ..events.model import Event

#: How far on either side of a batch's times an id lookup looks (clock skew, rounding).
ID_LOOKUP_MARGIN = timedelta(minutes=5)
TIMEOUT = aiohttp.ClientTimeout(total=60, connect=10)

_encoder = msgspec.json.Encoder()


class PrefectError(TocsinError):
    """A Prefect server answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def key_from_env(variable: str | None, where: str) -> str | None:
    """The API key a link's `api_key_env` names; ConfigError when that variable is unset."""
    if not variable:
        return None
    key = os.environ.get(variable)
    if not key:
        raise ConfigError(f"{where}: api_key_env names {variable}, which is not set (or empty) "
                          "in the daemon's environment")
    return key


class PrefectWire:
    """One Prefect server's API (`url` ends in `/api`); use as an async context manager."""

    def __init__(self, url: str, api_key: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PrefectWire:
        self._session = aiohttp.ClientSession(timeout=TIMEOUT, headers=self._headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        """JSON in, JSON out; PrefectError (with the status) on any failure."""
        assert self._session is not None
        data = None if body is None else (body if isinstance(body, bytes) else _encoder.encode(body))
        url = path if path.startswith("http") else self.url + path
        try:
            async with self._session.request(method, url, data=data, headers={
                    "Content-Type": "application/json"}) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise PrefectError(f"{method} {url} answered {resp.status}: "
                                       f"{raw[:500].decode(errors='replace')}", resp.status)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PrefectError(f"cannot reach the Prefect API at {self.url}: "
                               f"{exc or type(exc).__name__}") from None
        return json.loads(raw) if raw else None

    # -- events ----------------------------------------------------------------------------
    async def post_events(self, events: list[Event]) -> None:
        await self.request("POST", "/events", _encoder.encode(events))

    async def count_stored(self, events: list[Event]) -> int:
        """How many of these events (by id) the server has stored."""
        page = await self.request("POST", "/events/filter",
                                  {"limit": 1, "filter": _by_ids(events)})
        return int(page["total"])

    async def stored_ids(self, events: list[Event]) -> set[str]:
        """Which of these events (by id) the server has stored."""
        found: set[str] = set()
        async for page in self.events(_by_ids(events)):
            found.update(str(e.id) for e in page)
        return found

    async def events(self, prefect_filter: dict[str, Any]) -> AsyncIterator[list[Event]]:
        """Every page of a `POST /events/filter` query, following `next_page`."""
        page = await self.request("POST", "/events/filter", {"filter": prefect_filter,
                                                             "limit": 50})
        while True:
            yield [msgspec.convert(e, Event) for e in page["events"]]
            if not page.get("next_page"):
                return
            page = await self.request("GET", page["next_page"])

    async def events_out(self, prefect_filter: dict[str, Any],
                         backfill: bool) -> aiohttp.ClientWebSocketResponse:
        """The `events/out` websocket, through Prefect's handshake and filter message."""
        assert self._session is not None
        ws_url = "ws" + self.url.removeprefix("http") + "/events/out"
        try:
            ws = await self._session.ws_connect(ws_url, protocols=("prefect",), heartbeat=30)
            await ws.send_str(json.dumps({"type": "auth", "token": self.api_key}))
            answer = await ws.receive_json(timeout=30)
            if answer.get("type") != "auth_success":
                await ws.close()
                raise PrefectError(f"{ws_url} refused the API key: {answer.get('reason', '')}")
            await ws.send_str(json.dumps({"type": "filter", "filter": prefect_filter,
                                          "backfill": backfill}))
        except (aiohttp.ClientError, TimeoutError, OSError, TypeError, ValueError) as exc:
            raise PrefectError(f"cannot open {ws_url}: {exc or type(exc).__name__}") from None
        return ws

    # -- automations and blocks ------------------------------------------------------------
    async def automations(self) -> list[dict[str, Any]]:
        return await self.request("POST", "/automations/filter", {})

    async def block_documents(self) -> list[dict[str, Any]]:
        return await self.request("POST", "/block_documents/filter",
                                  {"include_secrets": False})


def _by_ids(events: list[Event]) -> dict[str, Any]:
    """A Prefect filter for these events' ids (its time range must hold them too)."""
    times = [e.occurred for e in events]
    return {"occurred": {"since": (min(times) - ID_LOOKUP_MARGIN).isoformat(),
                         "until": (max(times) + ID_LOOKUP_MARGIN).isoformat()},
            "id": {"id": [str(e.id) for e in events]}}
