"""The Prefect-compatible `/api` listener: Prefect's CLI and SDK, with `PREFECT_API_URL`
pointed here, emit events into tocsin and manage its automations.

Off unless `[prefect_api] enabled = true`; binds 127.0.0.1 unless told otherwise, and away
from loopback only with an API key (`api_key_env` names the variable holding it). Clients
send the key the way Prefect's do: `Authorization: Bearer KEY` (PREFECT_API_KEY), `Basic`
(PREFECT_API_AUTH_STRING), or the `token` of the websocket `auth` message.

Prefect Cloud's workspace prefix (`/api/accounts/{id}/workspaces/{id}`) is an alias for
`/api`, so scripts written against Cloud, like the guide's REST example, need only their host
changed. Whatever Prefect serves and tocsin does not gets a 404 naming tocsin and the route.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import logging
import os
from collections import Counter
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import WSMsgType, web

from ..automations import api as automations_api
from ..automations.component import ENGINE, EngineComponent
from ..errors import ConfigError, Forbidden, InvalidInput, NotFound, Unauthorized
from ..events.filter import MAX_LIMIT, EventFilter
from ..events.model import decode_events
from ..server.api import (
    DAEMON,
    daemon_of,
    decode_body,
    error_middleware,
    json_response,
    receive_events,
    stream_events,
)
from ..server.component import Component
from ..sources.webhooks import bind_failure
from .filters import from_prefect

if TYPE_CHECKING:
    from ..config import Config, PrefectApiConfig
    from ..events.store import EventStore
    from ..server.daemon import Daemon

log = logging.getLogger("tocsin.prefect.api")

#: What `GET /api/admin/version` answers: the Prefect release this API was checked against
#: (Prefect's clients refuse a server of another major version).
PREFECT_VERSION = "3.9.1"
#: Prefect Cloud's workspace prefix, an alias for `/api` with any ids (tocsin is one
#: workspace): a Cloud URL such as the guide's REST example works with its host changed.
CLOUD_PREFIX = "/api/accounts/{account_id}/workspaces/{workspace_id}"
#: Prefect's own page size for `events/filter`.
PAGE_SIZE = 50
#: How long a websocket client has to send its `auth` (and `filter`) message.
HANDSHAKE_SECONDS = 10.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_key(cfg: PrefectApiConfig) -> str | None:
    """The key clients must send, or None; raises ConfigError when the config needs one
    that is not there."""
    key = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None
    if cfg.api_key_env and not key:
        raise ConfigError(f"[prefect_api] api_key_env names {cfg.api_key_env}, which is not "
                          "set (or empty) in the daemon's environment")
    if cfg.enabled and key is None and not is_loopback(cfg.host):
        raise ConfigError(f"[prefect_api] host {cfg.host!r} is not loopback: set api_key_env "
                          "to the variable holding the API key clients must send")
    return key


def _presented_key(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def _key_ok(expected: str | None, presented: str | None) -> bool:
    return expected is None or (presented is not None
                                and hmac.compare_digest(presented.encode(), expected.encode()))


async def count_matching(store: EventStore, f: EventFilter) -> int:
    """How many events match the whole filter (Prefect's `total`), ignoring its page."""
    compiled = f.compile()
    if not compiled.needs_python:
        rows = await store.read_sql(f"SELECT count(*) FROM events WHERE {compiled.where}",
                                    compiled.params)
        return int(rows[0][0])
    total, page = 0, msgspec.structs.replace(f, limit=MAX_LIMIT, page_token=None)
    while True:
        events, token = await store.query(page)
        total += len(events)
        if token is None:
            return total
        page = msgspec.structs.replace(page, page_token=token)


class PrefectApiComponent(Component):
    name = "prefect_api"

    def __init__(self, engine: EngineComponent) -> None:
        """`engine`: the automations this API lists and manages, as the socket API does."""
        self.engine = engine
        self.daemon: Daemon | None = None
        self.key: str | None = None
        self.counters: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._listening: PrefectApiConfig | None = None
        #: As the webhook listener says it: "listening on HOST:PORT", "failed: REASON", "off".
        self.state = "off"

    # -- lifecycle -------------------------------------------------------------------------
    def check(self, config: Config) -> None:
        api_key(config.prefect_api)

    async def start(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.check(daemon.config)
        await self._listen(daemon.config.prefect_api)

    async def reload(self, config: Config) -> None:
        if config.prefect_api != self._listening or api_key(config.prefect_api) != self.key:
            await self._close()
            await self._listen(config.prefect_api)

    async def stop(self) -> None:
        await self._close()

    def status(self) -> dict[str, Any]:
        return {"listener": self.state,
                **{k: self.counters[k] for k in ("events", "refused", "not_served")}}

    async def _listen(self, cfg: PrefectApiConfig) -> None:
        if not cfg.enabled:
            return
        assert self.daemon is not None
        self.key = api_key(cfg)
        app = web.Application(client_max_size=self.daemon.config.max_body_bytes,
                              middlewares=[error_middleware, self._authorize])
        app[DAEMON] = self.daemon
        app[ENGINE] = self.engine
        app.add_routes(self._routes())
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, cfg.host, cfg.port).start()
        except OSError as exc:
            await runner.cleanup()
            log.error("Prefect API listener cannot bind %s:%s: %s", cfg.host, cfg.port, exc)
            self.state = f"failed: {bind_failure(exc)}"
            return
        port = runner.addresses[0][1]
        self._runner, self._listening = runner, cfg
        self.state = f"listening on {cfg.host}:{port}"
        log.info("Prefect-compatible API on http://%s:%s/api", cfg.host, port)

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = self._listening = None
        self.state = "off"

    @web.middleware
    async def _authorize(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """HTTP requests carry the key in a header; websockets may carry it in their
        `auth` message instead (checked in the handshake)."""
        is_ws = request.headers.get("Upgrade", "").lower() == "websocket"
        if not is_ws and not _key_ok(self.key, _presented_key(request)):
            self.counters["refused"] += 1
            raise Unauthorized("tocsin's Prefect API needs the API key "
                               "(PREFECT_API_KEY or PREFECT_API_AUTH_STRING)")
        return await handler(request)

    def _routes(self) -> list[web.RouteDef]:
        """Each route under `/api` and under Prefect Cloud's workspace prefix, so that a
        Cloud URL works with only its host changed."""
        automations = [route for route in automations_api.routes()
                       if route.path not in ("/automations/filter", "/automations")]
        routes = [
            web.get("/health", lambda _: json_response(True)),
            web.get("/admin/version", lambda _: json_response(PREFECT_VERSION)),
            # As a Prefect server with CSRF protection off answers (its clients then stop asking).
            web.get("/csrf-token", lambda _: json_response(
                {"detail": "CSRF protection is disabled."}, status=422)),
            web.post("/events", self.post_events),
            web.get("/events/in", self.events_in),
            web.get("/events/out", self.events_out),
            web.post("/events/filter", self.filter_events),
            web.get("/events/filter/next", self.next_page),
            web.post("/automations/filter", self.filter_automations),
            *automations,
        ]
        return [
            *(web.RouteDef(r.method, prefix + r.path, r.handler, r.kwargs)
              for prefix in ("/api", CLOUD_PREFIX) for r in routes),
            web.route("*", "/{tail:.*}", self.not_served),
        ]

    async def not_served(self, request: web.Request) -> web.Response:
        self.counters["not_served"] += 1
        log.info("Prefect client asked for %s %s, which tocsin does not serve",
                 request.method, request.path)
        raise NotFound(f"tocsin's Prefect-compatible API does not serve {request.method} "
                       f"{request.path}; it serves health, events (POST, filter, in, out) and "
                       "automations")

    # -- events ----------------------------------------------------------------------------
    async def post_events(self, request: web.Request) -> web.Response:
        daemon = daemon_of(request)
        body = await request.read()
        events = decode_events(body)
        daemon.check_size(events, len(body))
        await daemon.ingest(events)
        self.counters["events"] += len(events)
        return web.Response(status=204)

    async def _handshake(self, request: web.Request) -> tuple[web.WebSocketResponse, bool]:
        """Accept with the `prefect` subprotocol, then require `{"type": "auth", "token"}`
        and answer `auth_success` (Prefect's handshake); False (socket closed) if refused."""
        ws = web.WebSocketResponse(protocols=("prefect",), autoclose=False, autoping=False,
                                   max_msg_size=daemon_of(request).config.max_body_bytes)
        await ws.prepare(request)
        if ws.ws_protocol != "prefect":  # a legacy client: no auth message comes
            if _key_ok(self.key, _presented_key(request)):
                return ws, True
            await ws.close(code=1008, message=b"the 'prefect' subprotocol and an API key "
                                              b"are required")
            return ws, False
        message = await self._json_message(ws)
        if message is None or message.get("type") != "auth":
            await ws.close(code=1008, message=b"expected an 'auth' message first")
            return ws, False
        token = message.get("token") or _presented_key(request)
        if not _key_ok(self.key, token):
            self.counters["refused"] += 1
            await ws.close(code=1008, message=b"invalid token")
            return ws, False
        await ws.send_json({"type": "auth_success"})
        return ws, True

    @staticmethod
    async def _json_message(ws: web.WebSocketResponse) -> dict[str, Any] | None:
        """The next message as a JSON object, answering pings on the way (Prefect's client
        pings before it authenticates); None on anything else."""
        while True:
            try:
                msg = await ws.receive(timeout=HANDSHAKE_SECONDS)
            except TimeoutError:
                return None
            if msg.type != WSMsgType.PING:
                break
            await ws.pong(msg.data)
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            return None
        try:
            data = json.loads(msg.data)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    async def events_in(self, request: web.Request) -> web.WebSocketResponse:
        ws, ok = await self._handshake(request)
        if ok:
            await receive_events(daemon_of(request), ws)
        return ws

    async def events_out(self, request: web.Request) -> web.WebSocketResponse:
        """After auth, `{"type": "filter", "filter": {...}, "backfill": bool}`; then events
        as `{"type": "event", "event": {...}}`, backfill (since the filter's `occurred.since`)
        first."""
        ws, ok = await self._handshake(request)
        if not ok:
            return ws
        message = await self._json_message(ws)
        if message is None or message.get("type") != "filter":
            await ws.close(code=1002, message=b"expected a 'filter' message")
            return ws
        try:
            f, _ = from_prefect(message.get("filter"), limit=MAX_LIMIT)
        except InvalidInput as exc:
            await ws.close(code=1002, message=f"invalid filter: {exc}"[:120].encode())
            return ws
        backfill = MAX_LIMIT if message.get("backfill", True) and f.since is not None else 0
        await stream_events(request, ws, msgspec.structs.replace(f, until=None), backfill)
        return ws

    async def filter_events(self, request: web.Request) -> web.Response:
        body = await request.read()
        spec = decode_body(body or b"{}", dict[str, Any])
        limit = spec.get("limit", PAGE_SIZE)
        if not isinstance(limit, int) or not 0 <= limit <= MAX_LIMIT:
            raise InvalidInput([("limit", f"must be a whole number from 0 to {MAX_LIMIT}")])
        f, ids = from_prefect(spec.get("filter"), limit=max(limit, 1))
        if ids:
            return await self._by_ids(request, f, ids)
        return await self._page(request, f, limit)

    async def next_page(self, request: web.Request) -> web.Response:
        """Prefect's `next_page` link: the token carries the whole query, so no state is kept."""
        try:
            data = json.loads(base64.urlsafe_b64decode(request.query.get("page-token", "")))
            f = msgspec.convert(data["filter"], EventFilter)
            limit = int(data["limit"])
        except (ValueError, KeyError, TypeError, binascii.Error, msgspec.ValidationError):
            raise Forbidden("not a page token tocsin handed out") from None
        return await self._page(request, f, limit)

    async def _page(self, request: web.Request, f: EventFilter, limit: int) -> web.Response:
        store = daemon_of(request).store
        events, token = await store.query(f) if limit else ([], None)
        total = await count_matching(store, f)
        next_page = None
        if token is not None:
            raw = msgspec.json.encode({"filter": msgspec.structs.replace(f, page_token=token),
                                       "limit": limit})
            next_page = (f"{request.url.origin()}/api/events/filter/next?page-token="
                         f"{base64.urlsafe_b64encode(raw).decode()}")
        return json_response({"events": events, "total": total, "next_page": next_page})

    async def _by_ids(self, request: web.Request, f: EventFilter, ids: list[str]) -> web.Response:
        """Prefect's `id` filter: each id read directly, then the rest of the filter."""
        store = daemon_of(request).store
        compiled = f.compile()
        found = [e for e in [await store.get(i) for i in dict.fromkeys(ids)]
                 if e is not None and compiled(e)]
        found.sort(key=lambda e: e.occurred, reverse=f.order == "newest")
        return json_response({"events": found[:f.limit], "total": len(found),
                              "next_page": None})

    # -- automations -----------------------------------------------------------------------
    async def filter_automations(self, request: web.Request) -> web.Response:
        """Prefect's `POST /automations/filter`: by name (`automations.name.any_`), with
        limit and offset."""
        body = decode_body(await request.read() or b"{}", dict[str, Any])
        found = self.engine.all_automations()
        names = ((body.get("automations") or {}).get("name") or {}).get("any_")
        if names:
            found = [a for a in found if a.name in names]
        offset = int(body.get("offset") or 0)
        limit = body.get("limit")
        return json_response(found[offset:offset + limit] if limit else found[offset:])
