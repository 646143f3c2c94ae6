"""What a part of the daemon (engine, actions, tailer, webhooks, jobs) plugs in with.

Each part brings its own tables, routes and background work; the daemon owns their
lifecycle. Parts reach the shared things (the store, the bus, `ingest`, the config) through
the Daemon handed to `start`, and each other through typed references the composition root
(`tocsin.compose`) gives them when it builds them — never by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from ..config import Config
    from .daemon import Daemon


class Component:
    """Base with no-op defaults; subclasses override what they need."""

    name = "component"
    #: SQL run (idempotently) when the store opens.
    schema = ""

    def routes(self) -> list[web.RouteDef]:
        return []

    def publish(self, app: web.Application) -> None:
        """Put this part in `app` under its typed `web.AppKey`, where its route handlers
        find it (`request.app[KEY]`). Called once the part has started."""

    async def start(self, daemon: Daemon) -> None:
        """Called after the store is open and before the socket accepts."""

    async def stop(self) -> None:
        """Called before the store closes; finish or checkpoint in-flight work."""

    def check(self, config: Config) -> None:
        """Raise ConfigError if this part cannot run with `config`. Called for every part
        before any applies a reload, so a reload is taken whole or not at all."""

    async def reload(self, config: Config) -> None:
        """Apply a new config that every part's `check` accepted."""

    def status(self) -> dict[str, Any]:
        """Counters shown by `GET /health` and `tocsin status`."""
        return {}
