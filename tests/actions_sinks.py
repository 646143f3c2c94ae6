"""Real sinks on 127.0.0.1 for action tests and the actions benchmark: an HTTP server (webhook
calls and apprise json:// notifications) and an SMTP server (apprise mailto://), each on its
own thread so that tests may block (starting a daemon subprocess) while they keep answering.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiohttp import web


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int = 0


@dataclass
class HttpSink:
    """Records every request; answers with `statuses` in turn (then 200). A status of 0
    means: hold the request open and never answer (a hung sink)."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HttpSink:
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self) -> None:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        item = Received(request.method, request.path, dict(request.headers), body, time.monotonic())
        with self._lock:
            status = self.statuses.pop(0) if self.statuses else 200
            item.status = status
            self.received.append(item)
        if status == 0:
            await self._release.wait()
        return web.Response(status=status, text="ok" if status < 300 else f"sink says {status}")

    def stop(self) -> None:
        async def down() -> None:
            self._release.set()
            if self._runner is not None:
                await self._runner.cleanup()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(down(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.01)
        raise AssertionError(f"sink got {len(self.received)} requests, expected {n}")

    async def arrived(self, n: int, timeout: float = 10.0) -> list[Received]:
        """`wait_for` for async tests (the daemon under test shares their event loop)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= n:
                    return list(self.received)
            await asyncio.sleep(0.01)
        raise AssertionError(f"sink got {len(self.received)} requests, expected {n}")


class SmtpSink:
    """aiosmtpd on 127.0.0.1, keeping each message as parsed email."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Message] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.messages.append(message_from_bytes(envelope.content))
                return "250 OK"

        self.port = free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= n:
                return list(self.messages)
            time.sleep(0.01)
        raise AssertionError(f"SMTP sink got {len(self.messages)} messages, expected {n}")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- an in-process daemon with the actions part, and firings made by hand ----------------------

def automation(actions: list[dict], *, on_trigger: list[dict] | None = None,
               name: str = "demo") -> Any:
    """A real (engine-model) automation with an id, as the engine stores it."""
    import uuid

    from tocsin.automations.model import parse_automation

    auto = parse_automation({"name": name, "trigger": {"expect": ["order.*"]},
                             "actions": actions, "actions_on_trigger": on_trigger or []})
    auto.id = str(uuid.uuid4())
    return auto


def firing_for(auto: Any, event: Any) -> tuple[Any, Any]:
    """A triggered firing of `auto` by `event`, and its state-change event."""
    from tocsin.automations.emitted import state_change_event
    from tocsin.events.model import utcnow, uuid7
    from tocsin.firing import Firing

    firing = Firing(id=str(uuid7()), automation_id=auto.id, trigger_id=auto.trigger.id,
                    state="triggered", at=utcnow(), triggering_event=event)
    return firing, state_change_event(auto, firing)


async def fire(daemon: Any, auto: Any, event: Any) -> Any:
    """Commit a firing with its queued actions, as the engine does; returns the firing."""
    await daemon.ingest([event])
    firing, changed = firing_for(auto, event)
    statements = actions_of(daemon).outbox_statements(firing, auto, changed)
    await daemon.ingest([changed], extra=statements)
    return firing


def order_event(**payload: Any) -> Any:
    from tocsin.events.model import Event

    return Event(event="order.created", resource={"prefect.resource.id": "order.1",
                                                  "prefect.resource.name": "Order one"},
                 payload=payload)


def actions_of(daemon: Any) -> Any:
    """The actions part of an in-process daemon, found by its class (typed)."""
    from tocsin.actions.component import ActionsComponent

    return next(c for c in daemon.components if isinstance(c, ActionsComponent))


class InProcessDaemon:
    """A real Daemon (socket, SQLite, components) running in the test's event loop."""

    def __init__(self, actions_config: dict | None = None) -> None:
        import tempfile
        from pathlib import Path

        from tocsin.actions.component import ActionsComponent
        from tocsin.config import ActionsConfig, Config
        from tocsin.server.daemon import Daemon, Paths

        self.dir = Path(tempfile.mkdtemp(prefix="tca", dir="/tmp"))
        config = Config(actions=ActionsConfig(**{"retry_base_s": 0.05, "retry_max_s": 0.2,
                                                 **(actions_config or {})}))
        self.daemon = Daemon(config, Paths(self.dir, self.dir / "s.sock", None),
                             components=[ActionsComponent()])

    async def __aenter__(self) -> Any:
        await self.daemon.start()
        return self.daemon

    async def __aexit__(self, *exc: object) -> None:
        import shutil

        await self.daemon.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


async def outbox(daemon: Any) -> list[tuple]:
    rows = await daemon.store.read_sql(
        "SELECT action_index, status, attempts, last_error FROM action_outbox "
        "ORDER BY action_index")
    return [tuple(r) for r in rows]


async def action_events(daemon: Any) -> list[Any]:
    from tocsin.events.filter import EventFilter

    events, _ = await daemon.store.query(EventFilter(names=["prefect.automation.action.*"],
                                                     order="oldest", limit=1000))
    return events


async def until(predicate: Any, timeout: float = 10.0) -> None:
    """Wait (asynchronously) until an async predicate is true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out waiting")
