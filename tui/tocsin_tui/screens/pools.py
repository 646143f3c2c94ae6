"""Work pools, each followed by its queues: type, concurrency limit, priority, paused or
not; pause or resume the selected pool or queue."""

from __future__ import annotations

import asyncio
from typing import Any

from textual import work
from textual.binding import Binding
from tocsin.client.resources import API

from ..daemon_format import limit_text
from ..widgets.list_table import Row
from .table_screen import TableScreen


class PoolsScreen(TableScreen):
    TITLE = "tocsin · work pools"
    COLUMNS = ("Pool / queue", "Type", "Limit", "Priority", "Paused", "Status")
    NOUN = "work pool"
    BINDINGS = [
        Binding("q", "app.quit", "Quit", id="pools.quit", tooltip="Quit the dashboard"),
        Binding("space", "toggle_pause", "Pause/resume", id="pools.pause",
                tooltip="Pause or resume the selected pool or queue"),
    ]

    async def fetch(self, quiet: bool) -> list[Row] | None:
        pools = await self.app.api(API.work_pools.list(), quiet=quiet, what="work pool list")
        if pools is None:
            return None
        queues = await asyncio.gather(*(
            self.app.api(API.work_pools.queues(p["name"]), quiet=True)
            for p in pools))
        self.items = {}
        rows: list[Row] = []
        for pool, pool_queues in zip(sorted(pools, key=lambda p: p["name"]), queues):
            self.items[pool["id"]] = {**pool, "kind": "pool"}
            rows.append((pool["id"], (pool["name"], pool.get("type", ""),
                                      limit_text(pool.get("concurrency_limit")), "",
                                      paused(pool), pool.get("status", ""))))
            for queue in pool_queues or []:
                self.items[queue["id"]] = {**queue, "kind": "queue"}
                rows.append((queue["id"], (f"  └ {queue['name']}", "queue",
                                           limit_text(queue.get("concurrency_limit")),
                                           str(queue.get("priority", "")), paused(queue),
                                           queue.get("status", ""))))
        return rows

    def summary(self) -> str:
        pools = sum(1 for i in self.items.values() if i["kind"] == "pool")
        return f"{pools} pools, {len(self.items) - pools} queues · space pause/resume"

    @work(group="pool-change", exit_on_error=False)
    async def action_toggle_pause(self) -> None:
        item = self.selected()
        if item is None:
            return
        pause = not item.get("is_paused")
        if item["kind"] == "pool":
            call = API.work_pools.set_paused(item["name"], pause)
        else:
            call = API.work_pools.set_queue_paused(item["work_pool_name"], item["name"], pause)
        await self.change(call, f"{item['kind']} {item['name']} {'paused' if pause else 'resumed'}")


def paused(item: dict[str, Any]) -> str:
    return "paused" if item.get("is_paused") else "—"
