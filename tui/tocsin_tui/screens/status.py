"""The daemon itself: version, pid, uptime, where it lives, the store's and WAL's size, and
every part's counters (engine, actions, watch, webhooks, jobs) as `/health` reports them."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Static
from tocsin.client.resources import API

from ..daemon_format import size_text
from ..widgets.list_table import Row
from .table_screen import TableScreen


def uptime_text(seconds: float) -> str:
    s = int(seconds)
    days, s = divmod(s, 86_400)
    hours, s = divmod(s, 3_600)
    minutes, s = divmod(s, 60)
    return (f"{days}d " if days else "") + f"{hours:02d}:{minutes:02d}:{s:02d}"


def part_rows(counters: dict[str, Any], part: str = "") -> list[Row]:
    """One row a counter, under its part (a nested part, such as one watched file, is named
    `watch /var/log/app.jsonl`)."""
    rows: list[Row] = []
    for name, value in counters.items():
        if isinstance(value, dict):
            rows += part_rows(value, f"{part} {name}".strip())
        else:
            shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) \
                else str(value)
            rows.append((f"{part}:{name}", (part, name, shown)))
    return rows


class StatusScreen(TableScreen):
    TITLE = "tocsin · daemon status"
    COLUMNS = ("Part", "Counter", "Value")
    FLEX = (0, 2)
    NOUN = "counter"
    REFRESH_EVERY = 1.0
    BINDINGS = [
        Binding("q", "app.quit", "Quit", id="status.quit", tooltip="Quit the dashboard"),
    ]

    def compose_above(self) -> ComposeResult:
        yield Static("loading…", id="status-summary")

    async def fetch(self, quiet: bool) -> list[Row] | None:
        health = await self.app.api(API.health(), quiet=quiet, what="status request")
        if health is None:
            return None
        store = health.get("store") or {}
        self.query_one("#status-summary", Static).update(Content.from_markup(
            "tocsin [b]$version[/] · pid $pid · up [b]$uptime[/] · $subs live subscribers\n"
            "store [b]$db[/] + WAL [b]$wal[/] · $path\nhome $home · socket $socket",
            version=health.get("version", "?"), pid=str(health.get("pid", "?")),
            uptime=uptime_text(health.get("uptime_s", 0)),
            subs=str(health.get("subscribers", 0)), db=size_text(store.get("bytes", 0)),
            wal=size_text(store.get("wal_bytes", 0)), path=store.get("path", "?"),
            home=health.get("home", "?"), socket=health.get("socket", "?")))
        rows = part_rows(health.get("components") or {})
        self.items = {key: {} for key, _ in rows}
        return rows
