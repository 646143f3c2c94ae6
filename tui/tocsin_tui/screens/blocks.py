"""Blocks: notification (apprise URLs) and webhook blocks, with their secrets masked by the
daemon before they ever reach the dashboard."""

from __future__ import annotations

from textual.binding import Binding
from tocsin.client.resources import API

from ..daemon_format import block_target
from ..widgets.list_table import Row
from .automations_format import short_time
from .table_screen import TableScreen


class BlocksScreen(TableScreen):
    TITLE = "tocsin · blocks"
    COLUMNS = ("Block", "Kind", "Sends to (secrets masked)", "Created")
    FLEX = (2,)
    NOUN = "block"
    REFRESH_EVERY = 5.0
    BINDINGS = [
        Binding("q", "app.quit", "Quit", id="blocks.quit", tooltip="Quit the dashboard"),
    ]

    async def fetch(self, quiet: bool) -> list[Row] | None:
        blocks = await self.app.api(API.blocks.list(), quiet=quiet, what="block list")
        if blocks is None:
            return None
        self.items = {b["id"]: b for b in blocks}
        return [(b["id"], (b["name"], b.get("kind", ""), block_target(b),
                           short_time(b.get("created"))))
                for b in sorted(blocks, key=lambda b: b["name"])]

    def summary(self) -> str:
        return super().summary() + " · `tocsin block create` makes one"
