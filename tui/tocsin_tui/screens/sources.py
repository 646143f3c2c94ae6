"""Where events come from: each watched file (lines read, events, rejected, lag, last error),
the spool, and each webhook (its URL and when it was last called); the tailers' total lag
over the last minutes is drawn above the table."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Sparkline, Static
from tocsin.client.resources import API

from ..daemon_format import size_text
from ..widgets.list_table import Row
from .automations_format import short_time
from .table_screen import TableScreen

LAG_SAMPLES = 120


def watch_rows(watch: dict[str, dict[str, Any]]) -> list[Row]:
    """One row a watched path (the spool last), from `/health`'s watch counters."""
    rows: list[Row] = []
    for name in sorted(watch, key=lambda n: (n == "spool", n)):
        c = watch[name]
        last = c.get("last_error") or (f"{c.get('files', 0)} file"
                                       f"{'s' if c.get('files', 0) != 1 else ''}")
        rows.append((f"watch:{name}", (name, "spool" if name == "spool" else "file",
                                       f"{c.get('lines_read', 0):,}", f"{c.get('events', 0):,}",
                                       f"{c.get('rejected', 0):,}",
                                       size_text(c.get("lag_bytes", 0)), "", last)))
    return rows


class SourcesScreen(TableScreen):
    TITLE = "tocsin · sources"
    COLUMNS = ("Source", "Kind", "Lines", "Events", "Rejected", "Lag", "Last call",
               "Last error / URL")
    FLEX = (0, 7)
    NOUN = "source"
    REFRESH_EVERY = 1.0
    BINDINGS = [
        Binding("q", "app.quit", "Quit", id="sources.quit", tooltip="Quit the dashboard"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.lag: deque[float] = deque([0.0] * LAG_SAMPLES, maxlen=LAG_SAMPLES)
        self.listener = "off"

    def compose_above(self) -> ComposeResult:
        yield Static("tailer lag (bytes behind), last 2 minutes", classes="chart-label",
                     id="lag-label")
        yield Sparkline(list(self.lag), id="lag-chart")

    async def fetch(self, quiet: bool) -> list[Row] | None:
        health = await self.app.api(API.health(), quiet=quiet, what="status request")
        if health is None:
            return None
        parts = health.get("components", {})
        watch = parts.get("watch") or {}
        self.listener = (parts.get("webhooks") or {}).get("listener", "off")
        hooks = await self.app.api(API.webhooks.list(), quiet=True) or []
        last = await asyncio.gather(*(self.last_call(h["id"]) for h in hooks))
        total_lag = sum(c.get("lag_bytes", 0) for c in watch.values())
        self.lag.append(total_lag)
        self.query_one("#lag-chart", Sparkline).data = list(self.lag)
        self.query_one("#lag-label", Static).update(
            f"tailer lag now {size_text(total_lag)}, max {size_text(int(max(self.lag)))} "
            "over the last 2 minutes")
        self.items = {key: {} for key, _ in watch_rows(watch)}
        rows = watch_rows(watch)
        for hook, when in zip(hooks, last):
            self.items[f"hook:{hook['id']}"] = hook
            rows.append((f"hook:{hook['id']}", (
                hook["name"], "webhook", "", "", "", "", short_time(when),
                hook.get("url") or f"no URL: webhook listener {self.listener}")))
        return rows

    async def last_call(self, hook_id: str) -> str | None:
        """When the webhook last stored an event (its events name it as a related resource)."""
        page = await self.app.api(API.events.filter(
            related={"prefect.resource.id": f"tocsin.webhook.{hook_id}"}, limit=1,
            order="newest"), quiet=True)
        events = (page or {}).get("events") or []
        return events[0].get("occurred") if events else None

    def summary(self) -> str:
        return super().summary() + f" · webhook listener: {self.listener}"
