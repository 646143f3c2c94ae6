"""The dashboard app as its screens see it: the link to the daemon, the live feed, and the
few things a screen asks of the app. Screens type their `app` as `Dashboard`, not as the
concrete TocsinApp, so no screen imports app.py — which imports screens to show them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App
from tocsin.client.resources import Call

from .connection import OFFLINE_ERRORS, Connection
from .feed_buffer import FeedBuffer

Event = dict[str, Any]


class Dashboard(App[None]):
    connection: Connection
    feed: FeedBuffer
    feed_listeners: list[Callable[[list[Event]], None]]
    keymap: dict[str, str]

    async def api(self, call: Call, *, what: str = "request", quiet: bool = False) -> Any:
        """Run a call (`API.deployments.list()`); when the daemon is unreachable, say so
        (unless `quiet`: background refreshes) and return None, so the app keeps going with
        what it has.

        ApiError (the daemon answered with an error) propagates for the caller to show.
        """
        try:
            return await self.connection.send(call)
        except OFFLINE_ERRORS as exc:
            if not quiet:
                self.notify(f"The {what} did not reach the daemon: {exc}",
                            title="Daemon unreachable", severity="warning", markup=False)
            return None

    def open_template(self, template: str | None = None, event: Event | None = None) -> None:
        """Go to the template preview, preloaded with a template and/or an event."""
        raise NotImplementedError
