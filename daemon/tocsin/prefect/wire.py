"""A small client for a Prefect server's API: what `[[forward]]`, `[[subscribe]]` and
`automation push/pull` need, and nothing else.

Credentials go the way Prefect's own client sends them (prefect/client/base.py and
events/clients.py): Prefect Cloud's API key as `Authorization: Bearer KEY`; a self-hosted
server's auth string (`PREFECT_SERVER_API_AUTH_STRING` there, `PREFECT_API_AUTH_STRING` in its
clients) as `Authorization: Basic base64(STRING)`; either one as the `token` of the websocket
`auth` message.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import aiohttp
import msgspec

from ..errors import ConfigError, TocsinError
from ..events.model import Event

if TYPE_CHECKING:
    from ..config import PrefectLinkConfig

#: How far on either side of a batch's times an id lookup looks (clock skew, rounding).
ID_LOOKUP_MARGIN = timedelta(minutes=5)
TIMEOUT = aiohttp.ClientTimeout(total=60, connect=10)
#: Answers a busy server gives (Prefect's client retries the same ones), and the waits
#: between tries.
RETRY_STATUSES = frozenset({408, 429, 502, 503})
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)

_encoder = msgspec.json.Encoder()


class PrefectError(TocsinError):
    """A Prefect server answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Credentials(NamedTuple):
    """What tocsin shows a Prefect server: at most one of the two is set."""

    api_key: str | None = None
    auth_string: str | None = None

    def headers(self) -> dict[str, str]:
        if self.auth_string:
            basic = base64.b64encode(self.auth_string.encode()).decode()
            return {"Authorization": f"Basic {basic}"}
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    @property
    def token(self) -> str | None:
        """The websocket `auth` message's token."""
        return self.api_key or self.auth_string


def from_env(variable: str | None, setting: str, where: str) -> str | None:
    """The value of the variable a setting names; ConfigError when that variable is unset."""
    if not variable:
        return None
    value = os.environ.get(variable)
    if not value:
        raise ConfigError(f"{where}: {setting} names {variable}, which is not set (or empty) "
                          "in this environment")
    return value


def link_credentials(link: PrefectLinkConfig, where: str) -> Credentials:
    """A `[[forward]]`/`[[subscribe]]` table's credentials, read from the environment."""
    return Credentials(from_env(link.api_key_env, "api_key_env", where),
                       from_env(link.auth_string_env, "auth_string_env", where))


UNAUTHORIZED_HINT = ("a self-hosted server secured with PREFECT_SERVER_API_AUTH_STRING needs "
                     "that string (`auth_string_env`, `--auth-string-env`); Prefect Cloud needs "
                     "an API key (`api_key_env`, `--api-key-env`)")


class PrefectWire:
    """One Prefect server's API (`url` ends in `/api`); use as an async context manager."""

    def __init__(self, url: str, credentials: Credentials = Credentials()) -> None:
        self.url = url.rstrip("/")
        self.credentials = credentials
        self._headers = credentials.headers()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PrefectWire:
        self._session = aiohttp.ClientSession(timeout=TIMEOUT, headers=self._headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        """JSON in, JSON out; PrefectError (with the status) on any failure. Answers that mean
        "busy, try again" are retried a few times with backoff, as Prefect's own client does:
        a Prefect server on SQLite answers 503 while its database is locked."""
        for attempt in range(len(RETRY_DELAYS) + 1):
            try:
                return await self._request_once(method, path, body)
            except PrefectError as exc:
                if exc.status not in RETRY_STATUSES or attempt == len(RETRY_DELAYS):
                    raise
                await asyncio.sleep(RETRY_DELAYS[attempt])
        raise AssertionError("unreachable")

    async def _request_once(self, method: str, path: str, body: Any) -> Any:
        assert self._session is not None
        data = None if body is None else (body if isinstance(body, bytes) else _encoder.encode(body))
        url = path if path.startswith("http") else self.url + path
        try:
            async with self._session.request(method, url, data=data, headers={
                    "Content-Type": "application/json"}) as resp:
                raw = await resp.read()
                if resp.status == 401:
                    raise PrefectError(f"{method} {url} answered 401 Unauthorized: wrong or "
                                       f"missing credentials; {UNAUTHORIZED_HINT}", 401)
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
            await ws.send_str(json.dumps({"type": "auth", "token": self.credentials.token}))
            answer = await ws.receive(timeout=30)
            if answer.type != aiohttp.WSMsgType.TEXT or json.loads(answer.data).get(
                    "type") != "auth_success":
                await ws.close()
                said = answer.extra if answer.type == aiohttp.WSMsgType.CLOSE else answer.data
                raise PrefectError(f"{ws_url} refused tocsin's credentials ("
                                   f"{said or 'no reason given'}); {UNAUTHORIZED_HINT}")
            await ws.send_str(json.dumps({"type": "filter", "filter": prefect_filter,
                                          "backfill": backfill}))
        except (aiohttp.ClientError, TimeoutError, OSError, TypeError, ValueError) as exc:
            raise PrefectError(f"cannot open {ws_url}: {exc or type(exc).__name__}") from None
        return ws

    # -- automations and blocks ------------------------------------------------------------
    async def automations(self) -> list[dict[str, Any]]:
        return await self.request("POST", "/automations/filter", {})

    async def create_automation(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self.request("POST", "/automations/", body)

    async def update_automation(self, id: str, body: dict[str, Any]) -> None:
        await self.request("PUT", f"/automations/{id}", body)

    async def block_documents(self) -> list[dict[str, Any]]:
        return await self.request("POST", "/block_documents/filter",
                                  {"include_secrets": False})


def _by_ids(events: list[Event]) -> dict[str, Any]:
    """A Prefect filter for these events' ids (its time range must hold them too)."""
    times = [e.occurred for e in events]
    return {"occurred": {"since": (min(times) - ID_LOOKUP_MARGIN).isoformat(),
                         "until": (max(times) + ID_LOOKUP_MARGIN).isoformat()},
            "id": {"id": [str(e.id) for e in events]}}
