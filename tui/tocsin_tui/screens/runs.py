"""Flow runs, newest first, with their states; open one for its timeline and live log;
cancel, suspend or resume it. Opened from a deployment, it shows that deployment's runs."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text
from textual import work
from textual.binding import Binding
from tocsin.client.resources import API

from ..changes import run_op
from ..charts import OUTCOMES
from ..daemon_format import run_cells
from ..widgets.list_table import Row
from .table_screen import TableScreen

RUNS_SHOWN = 500


def state_text(state: dict) -> Text:
    return Text(state.get("name", "?"), style=OUTCOMES.get(state.get("type", ""), ("", ""))[1])


class RunsScreen(TableScreen):
    TITLE = "tocsin · flow runs"
    COLUMNS = ("Run", "Deployment", "State", "Started", "Took", "Id")
    FLEX = (0, 1)
    NOUN = "flow run"
    OPEN_ACTION = "open"
    REFRESH_EVERY = 1.0
    BINDINGS = [
        Binding("q", "app.quit", "Quit", id="runs.quit", tooltip="Quit the dashboard"),
        Binding("enter", "open", "Open", id="runs.open",
                tooltip="The run's state timeline, parameters and live log"),
        Binding("c", "op('cancel')", "Cancel", id="runs.cancel",
                tooltip="Cancel the selected run (asks first)"),
        Binding("s", "op('suspend')", "Suspend", id="runs.suspend",
                tooltip="Suspend the selected run (asks first)"),
        Binding("r", "op('resume')", "Resume", id="runs.resume",
                tooltip="Resume the selected suspended run"),
        Binding("a", "all", "All runs", id="runs.all", show=False,
                tooltip="Show every deployment's runs again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.deployment: str | None = None

    def show_deployment(self, name: str | None) -> None:
        """Show only this deployment's runs (None: all of them)."""
        self.deployment = name
        self.table.set_rows([])
        self.load()

    async def fetch(self, quiet: bool) -> list[Row] | None:
        runs = await self.app.api(API.runs.list(RUNS_SHOWN, self.deployment), quiet=quiet,
                                  what="flow run list")
        if runs is None:
            return None
        now = datetime.now(UTC)
        self.items = {r["id"]: r for r in runs}
        rows: list[Row] = []
        for run in runs:
            cells: list[str | Text] = list(run_cells(run, now))
            cells[2] = state_text(run.get("state") or {})
            rows.append((run["id"], cells))
        return rows

    def summary(self) -> str:
        scope = f" of {self.deployment} (a: all)" if self.deployment else ""
        return super().summary() + scope + " · enter open · c cancel · s suspend · r resume"

    def action_all(self) -> None:
        self.show_deployment(None)

    def action_open(self) -> None:
        run = self.selected()
        if run is not None:
            from .run_detail import RunDetailScreen

            self.app.push_screen(RunDetailScreen(run))

    @work(group="run-change", exit_on_error=False)
    async def action_op(self, op: str) -> None:
        run = self.selected()
        if run is not None and await run_op(self, run, op) is not None:
            self.load()
