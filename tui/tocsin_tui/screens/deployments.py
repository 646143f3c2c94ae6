"""Deployments: pool, what starts them (schedules, triggers), paused or not, and the
outcomes of their recent runs as a row of marks (✓ ✗ ▶ …, oldest first); run one with
parameters, pause or resume it, see its runs."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.binding import Binding
from tocsin.client.resources import API

from ..charts import outcome_marks
from ..daemon_format import starts_on
from ..widgets.list_table import Row
from .automations_format import short_time
from .run_parameters import RunParametersScreen
from .table_screen import TableScreen

RECENT_RUNS = 8
RUNS_LOOKED_AT = 1_000


class DeploymentsScreen(TableScreen):
    TITLE = "tocsin · deployments"
    COLUMNS = ("Deployment", "Pool", "Starts on", "State", "Recent", "Last run")
    FLEX = (0, 1, 2)
    NOUN = "deployment"
    OPEN_ACTION = "runs"
    BINDINGS = [
        Binding("q", "app.quit", "Quit", id="deployments.quit", tooltip="Quit the dashboard"),
        Binding("r", "run", "Run", id="deployments.run",
                tooltip="Start a run of the selected deployment, with parameters"),
        Binding("space", "toggle_pause", "Pause/resume", id="deployments.pause",
                tooltip="Pause or resume the selected deployment's schedules and triggers"),
        Binding("enter", "runs", "Runs", id="deployments.runs",
                tooltip="The selected deployment's flow runs"),
    ]

    async def fetch(self, quiet: bool) -> list[Row] | None:
        found = await self.app.api(API.deployments.list(), quiet=quiet, what="deployment list")
        runs = await self.app.api(API.runs.list(RUNS_LOOKED_AT), quiet=True)
        if found is None:
            return None
        by_deployment: dict[str, list[dict[str, Any]]] = {}
        for run in runs or []:  # newest first
            by_deployment.setdefault(run.get("deployment_id") or "", []).append(run)
        self.items = {d["id"]: d for d in found}
        rows: list[Row] = []
        for dep in sorted(found, key=lambda d: d["name"]):
            recent = by_deployment.get(dep["id"], [])
            rows.append((dep["id"], (
                dep["name"], f"{dep.get('work_pool_name')}/{dep.get('work_queue_name')}",
                starts_on(dep),
                "paused" if dep.get("paused") else "ready",
                outcome_marks([r["state"]["type"] for r in reversed(recent[:RECENT_RUNS])]),
                short_time(recent[0].get("created")) if recent else "—")))
        return rows

    def summary(self) -> str:
        return super().summary() + " · r run · space pause/resume · enter its runs"

    @work(group="deployment-change", exit_on_error=False)
    async def action_run(self) -> None:
        dep = self.selected()
        if dep is None:
            return
        parameters = await self.app.push_screen_wait(
            RunParametersScreen(dep["name"], dep.get("parameters") or {}))
        if parameters is None:
            return
        run = await self.change(API.deployments.run(dep["id"], parameters),
                                f"run of {dep['name']} started")
        if run is not None:
            from .run_detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(run))

    @work(group="deployment-change", exit_on_error=False)
    async def action_toggle_pause(self) -> None:
        dep = self.selected()
        if dep is None:
            return
        call, done = (API.deployments.resume(dep["id"]), "resumed") if dep.get("paused") else \
            (API.deployments.pause(dep["id"]), "paused")
        await self.change(call, f"{dep['name']} {done}")

    async def action_runs(self) -> None:
        dep = self.selected()
        if dep is not None:
            await self.app.switch_mode("runs")
            self.app.screen.show_deployment(dep["name"])  # type: ignore[attr-defined]
