"""Incoming webhooks: an HTTP listener on TCP that turns requests into events (prefect-semantics
§14, tocsin's decision 9).

Webhooks are managed over the socket API (`/webhooks`); each answers at `/hooks/{slug}` on
the listener, which is off unless `[webhooks] enabled = true` and binds 127.0.0.1 unless told
otherwise. A request that cannot become an event gets a 4xx with the reason; the listener
itself never stops for one.

Besides its secret slug, a webhook may require a shared secret (`auth`): an HMAC-SHA256 of
the body in `X-Hub-Signature-256` (GitHub's convention) or a bearer token. Both are compared
in constant time; a request without the right one is 401, counted as `unauthorized`. The
secret may be `{env:NAME}`, read from the daemon's environment on each request.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl

import msgspec
from aiohttp import web

from ..envrefs import MissingEnv, masked, resolve
from ..errors import BadRequest, Conflict, InvalidInput, NotFound, Unauthorized
from ..automations import lineage
from ..events.model import Event
from ..server.api import daemon_of, decode_body, error_middleware, json_response
from ..server.component import Component
from ..server.limits import IDLE_TIMEOUT, ConnectionCap, body_limits, connection_limit

if TYPE_CHECKING:
    from ..config import Config, WebhooksConfig
    from ..server.daemon import Daemon

log = logging.getLogger("tocsin.webhooks")

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    slug TEXT NOT NULL UNIQUE,
    template TEXT NOT NULL,
    description TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_auth (
    webhook_id TEXT PRIMARY KEY,
    data BLOB NOT NULL
);
"""
COLUMNS = "id, name, slug, template, description, created"
MAX_BODY_IN_PAYLOAD = 10_000
SIGNATURE_HEADER = "X-Hub-Signature-256"


class WebhookAuth(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A shared secret a request must prove it knows."""

    type: Literal["hmac-sha256", "bearer"]
    #: the key (hmac-sha256) or the token (bearer); may be `{env:NAME}`
    secret: str

    def shown(self) -> dict[str, str]:
        return {"type": self.type, "secret": masked(self.secret)}


def authorized(auth: WebhookAuth, secret: str, headers: Any, body: bytes) -> bool:
    """Whether the request carries `secret`'s proof: the body's HMAC-SHA256 in
    `X-Hub-Signature-256` as `sha256=<hex>`, or `Authorization: Bearer <secret>`. Compared
    in constant time, so an answer's timing tells nothing about how close a guess was."""
    if auth.type == "hmac-sha256":
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        given = headers.get(SIGNATURE_HEADER, "")
    else:
        expected, given = f"Bearer {secret}", headers.get("Authorization", "")
    return hmac.compare_digest(expected.encode(), given.encode())


class Webhook(msgspec.Struct, kw_only=True):
    id: str
    name: str
    slug: str
    template: str
    description: str = ""
    created: str = ""
    auth: WebhookAuth | None = None


class WebhookCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    template: str
    description: str = ""
    auth: WebhookAuth | None = None


class Headers(dict[str, str]):
    """Request headers for templates: keys lower-cased, looked up in any case."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


def parse_body(raw: bytes, content_type: str) -> Any:
    """JSON or form data when it is that, else the text (as Prefect Cloud does)."""
    text = raw.decode(errors="replace")
    if content_type == "application/x-www-form-urlencoded":
        pairs = parse_qsl(text, keep_blank_values=True)
        form: dict[str, Any] = {}
        for key, value in pairs:
            if key not in form:
                form[key] = value
            elif isinstance(form[key], list):
                form[key].append(value)
            else:
                form[key] = [form[key], value]
        return form
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past what json follows
        return text


def request_event(hook: Webhook, rendered: str, context: dict[str, Any], raw: bytes) -> Event:
    """The event a rendered template describes, with the webhook as a related resource.
    Raises InvalidInput with the reason when it is not one."""
    try:
        data = json.loads(rendered)
    except ValueError as exc:
        raise InvalidInput([("template", f"did not render JSON: {exc}")]) from None
    if not isinstance(data, dict):
        raise InvalidInput([("template", "must render a JSON object (an event)")])
    data.setdefault("payload", {
        "method": context["method"], "headers": dict(context["headers"]),
        "query": context["query"], "body": raw[:MAX_BODY_IN_PAYLOAD].decode(errors="replace")})
    related = data.get("related") or []
    if not isinstance(related, list):
        raise InvalidInput([("template", "rendered `related` that is not a list")])
    data["related"] = [*related, {"prefect.resource.id": f"tocsin.webhook.{hook.id}",
                                  "prefect.resource.role": "webhook",
                                  "prefect.resource.name": hook.name}]
    try:
        return msgspec.convert(data, Event)
    except msgspec.ValidationError as exc:
        raise InvalidInput([("template", f"rendered an invalid event: {exc}")]) from None


class WebhookComponent(Component):
    name = "webhooks"
    schema = SCHEMA

    def __init__(self) -> None:
        self.daemon: Daemon | None = None
        self.by_slug: dict[str, Webhook] = {}
        self.counters: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._listening: WebhooksConfig | None = None
        self.address: str | None = None
        #: "listening on HOST:PORT", "failed: REASON" or "off", as status and the CLI say it
        self.state = "off"

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, daemon: Daemon) -> None:
        self.daemon = daemon
        rows = await daemon.store.read_sql(f"SELECT {COLUMNS} FROM webhooks")
        auths = dict(await daemon.store.read_sql("SELECT webhook_id, data FROM webhook_auth"))
        for row in rows:
            hook = Webhook(**dict(zip(COLUMNS.split(", "), row)))
            if hook.id in auths:
                hook.auth = msgspec.json.decode(auths[hook.id], type=WebhookAuth)
            self.by_slug[hook.slug] = hook
        await self._listen(daemon.config.webhooks)

    async def reload(self, config: Config) -> None:
        if config.webhooks != self._listening or self.state.startswith("failed"):
            await self._close()
            await self._listen(config.webhooks)

    async def stop(self) -> None:
        await self._close()

    async def _listen(self, cfg: WebhooksConfig) -> None:
        if not cfg.enabled:
            return
        assert self.daemon is not None
        max_body = self.daemon.config.max_event_bytes
        app = web.Application(client_max_size=max_body,
                              middlewares=[error_middleware,
                                           body_limits(self.daemon.bodies, max_body)])
        app.router.add_route("*", "/hooks/{slug}", self.receive)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0,
                               keepalive_timeout=IDLE_TIMEOUT)
        await runner.setup()
        # the network side gets a quarter of the connections: the socket API keeps its own
        ConnectionCap(runner.server, connection_limit() // 4)
        site = web.TCPSite(runner, cfg.host, cfg.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            log.error("webhook listener cannot bind %s:%s: %s", cfg.host, cfg.port, exc)
            self.counters["bind_failures"] += 1
            self.state = f"failed: {bind_failure(exc)}"
            return
        port = runner.addresses[0][1]
        self._runner, self._listening = runner, cfg
        self.address = f"http://{cfg.host}:{port}"
        self.state = f"listening on {cfg.host}:{port}"
        log.info("webhook listener on %s", self.address)

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = self._listening = self.address = None
        self.state = "off"

    def status(self) -> dict[str, Any]:
        return {"listener": self.state, "webhooks": len(self.by_slug),
                "received": self.counters["received"], "stored": self.counters["stored"],
                "refused": self.counters["refused"],
                "unauthorized": self.counters["unauthorized"]}

    # -- the listener ----------------------------------------------------------------------
    async def receive(self, request: web.Request) -> web.Response:
        from ..templates import TemplateError, off_loop, render

        hook = self.by_slug.get(request.match_info["slug"])
        if hook is None:
            raise NotFound("no webhook answers at this address")
        self.counters["received"] += 1
        raw = await request.read()
        if hook.auth is not None and not self._authorized(hook, request, raw):
            self.counters["unauthorized"] += 1
            raise Unauthorized("this webhook requires a valid " + (
                f"{SIGNATURE_HEADER} signature of the body" if hook.auth.type == "hmac-sha256"
                else "bearer token in Authorization"))
        headers = Headers({k.lower(): v for k, v in request.headers.items()
                           if k.lower() != "authorization"})
        context = {"body": parse_body(raw, request.content_type), "headers": headers,
                   "method": request.method, "query": dict(request.query),
                   "webhook": {"id": hook.id, "name": hook.name}}
        try:
            # the body is an outsider's: render it beside the event loop, not on it
            rendered = await off_loop(render, hook.template, context)
            event = request_event(hook, rendered, context, raw)
            # a call from an automation's webhook action: keep its causes (the loop guard)
            event.related.extend(lineage.related(lineage.from_header(
                request.headers.get(lineage.HEADER))))
            assert self.daemon is not None
            self.daemon.check_size([event], len(raw) + len(hook.template))
        except TemplateError as exc:
            raise self._refused(hook, f"the template could not render this request: {exc}") \
                from None
        except InvalidInput as exc:
            raise self._refused(hook, str(exc)) from None
        await self.daemon.ingest([event])
        self.counters["stored"] += 1
        return json_response({"id": str(event.id)}, status=202)

    def _authorized(self, hook: Webhook, request: web.Request, raw: bytes) -> bool:
        assert hook.auth is not None
        try:
            secret = resolve(hook.auth.secret)
        except MissingEnv as exc:
            log.error("webhook %s refused a request: %s", hook.name, exc)
            return False
        if not secret:  # an empty variable: "Bearer " must not let everyone in
            log.error("webhook %s refused a request: its secret is empty", hook.name)
            return False
        return authorized(hook.auth, secret, request.headers, raw)

    def _refused(self, hook: Webhook, reason: str) -> BadRequest:
        self.counters["refused"] += 1
        log.info("webhook %s refused a request: %s", hook.name, reason)
        return BadRequest(reason)

    # -- management over the socket API ----------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        return [web.post("/webhooks", self.create), web.get("/webhooks", self.list),
                web.get("/webhooks/{name}", self.get),
                web.delete("/webhooks/{name}", self.delete)]

    def _shown(self, hook: Webhook) -> dict[str, Any]:
        out = msgspec.to_builtins(hook)
        out["auth"] = hook.auth.shown() if hook.auth is not None else None
        out["url"] = f"{self.address}/hooks/{hook.slug}" if self.address else None
        out["listener"] = self.state
        return out

    def _named(self, name: str) -> Webhook | None:
        return next((h for h in self.by_slug.values() if h.name == name), None)

    async def create(self, request: web.Request) -> web.Response:
        from ..templates import TemplateError, compile_template

        spec = decode_body(await request.read(), WebhookCreate)
        if not spec.name.strip():
            raise InvalidInput([("name", "must not be empty")])
        try:
            compile_template(spec.template)
        except TemplateError as exc:
            raise InvalidInput([("template", str(exc))]) from None
        if spec.auth is not None and not spec.auth.secret.strip():
            raise InvalidInput([("auth.secret", "must not be empty")])
        if self._named(spec.name) is not None:
            raise Conflict(f"a webhook named {spec.name!r} exists; delete it first or choose "
                           "another name")
        hook = Webhook(id=str(uuid.uuid4()), name=spec.name, slug=secrets.token_urlsafe(24),
                       template=spec.template, description=spec.description,
                       created=datetime.now(UTC).isoformat(), auth=spec.auth)
        values = [getattr(hook, c) for c in COLUMNS.split(", ")]
        statements: list[Any] = [
            (f"INSERT INTO webhooks ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", [values])]
        if hook.auth is not None:
            statements.append(("INSERT INTO webhook_auth (webhook_id, data) VALUES (?, ?)",
                               [[hook.id, msgspec.json.encode(hook.auth)]]))
        await daemon_of(request).store.run(statements)
        self.by_slug[hook.slug] = hook
        return json_response(self._shown(hook), status=201)

    async def list(self, request: web.Request) -> web.Response:
        hooks = sorted(self.by_slug.values(), key=lambda h: h.name)
        return json_response([self._shown(h) for h in hooks])

    async def get(self, request: web.Request) -> web.Response:
        hook = self._named(request.match_info["name"])
        if hook is None:
            raise NotFound("no webhook with that name")
        return json_response(self._shown(hook))

    async def delete(self, request: web.Request) -> web.Response:
        hook = self._named(request.match_info["name"])
        if hook is None:
            raise NotFound("no webhook with that name")
        await daemon_of(request).store.run([("DELETE FROM webhooks WHERE id = ?", [[hook.id]]),
                                            ("DELETE FROM webhook_auth WHERE webhook_id = ?",
                                             [[hook.id]])])
        self.by_slug.pop(hook.slug, None)
        return web.Response(status=204)


def bind_failure(exc: OSError) -> str:
    """Why the listener could not bind, in a few words ("address in use")."""
    if exc.errno == errno.EADDRINUSE:
        return "address in use"
    return (exc.strerror or str(exc)).lower()
