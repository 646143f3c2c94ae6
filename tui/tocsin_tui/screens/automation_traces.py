"""Why one automation fired, and why it did not: its recent traces (what counted, the
state change, each action's attempts) and its recent near-misses with what failed.

Reads `/automations/{id}/traces` and `/automations/{id}/state` (near-misses), every few
seconds while shown. Opened from the inspect screen (`w`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Static
from tocsin.cli.explain_cmds import trace_text
from tocsin.client.resources import API
from tocsin.errors import ApiError

from ..widgets.list_table import ListTable
from ..worker_errors import ReportWorkerErrors
from .reloading import Reloading

if TYPE_CHECKING:
    from ..dashboard import Dashboard

REFRESH_EVERY = 2.0
TRACES = 20


def trace_cells(trace: dict[str, Any]) -> tuple[str, ...]:
    counted = sum(len(part["events"]) for part in trace["trigger"])
    actions = ", ".join(f"{a['type']} {a['status']}" for a in trace["actions"]) or "none"
    change = trace["state_change"]
    return (trace["at"][:19], f"{change['from']} → {change['to']}", str(counted), actions)


def near_miss_cells(miss: dict[str, Any]) -> tuple[str, ...]:
    return (miss["at"][:19], miss["event"], miss["resource"] or "", miss["failed"],
            "; ".join(miss["why"]))


class TracesScreen(Reloading, ReportWorkerErrors, Screen[None]):
    app: Dashboard
    REFRESH_EVERY = REFRESH_EVERY
    # Here rather than in tocsin.tcss while the dashboard is being reworked (issue 18).
    DEFAULT_CSS = """
    #traces-body .section { margin-top: 1; padding: 0 1; text-style: bold; color: $text-accent; }
    #traces-body DataTable { height: auto; max-height: 12; }
    #trace-detail { height: auto; padding: 0 1; background: $panel; }
    """
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="traces.back", key_display="esc",
                tooltip="Back to the inspect screen"),
        Binding("r", "refresh", "Refresh", id="traces.refresh", tooltip="Reload now"),
    ]

    def __init__(self, automation: dict[str, Any]) -> None:
        super().__init__()
        self.automation = automation
        self.traces: list[dict[str, Any]] = []
        self.title = f"tocsin · why {automation['name']}"

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="traces-body"):
            yield Label("Recent firings", classes="section", id="traces-title")
            yield ListTable("At", "State change", "Counted", "Actions", flex=(3,), id="traces")
            yield Static("", id="trace-detail")
            yield Label("Recent near-misses", classes="section", id="near-title")
            yield ListTable("At", "Event", "Resource", "Failed", "Why", flex=(4,),
                            id="near-misses")
        yield Footer()

    @work(group="traces", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        aid = self.automation["id"]
        try:
            traces = await self.app.api(API.automations.traces(aid, TRACES), quiet=True)
            state = await self.app.api(API.automations.state(aid), quiet=True)
        except ApiError as exc:
            self.query_one("#trace-detail", Static).update(Text(str(exc)))
            return
        if traces is not None and state is not None:
            self.show(traces, state.get("near_misses") or [])

    def show(self, traces: list[dict[str, Any]], near: list[dict[str, Any]]) -> None:
        self.traces = traces
        self.query_one("#traces-title", Label).update(
            f"Recent firings ({len(traces)})" if traces else "Recent firings — none on record")
        self.query_one("#near-title", Label).update(
            f"Recent near-misses ({len(near)})" if near else "Recent near-misses — none")
        table = self.query_one("#traces", ListTable)
        table.set_rows([(t["firing_id"], trace_cells(t)) for t in traces])
        self.query_one("#near-misses", ListTable).set_rows(
            [(str(i), near_miss_cells(m)) for i, m in enumerate(near)])
        self.show_trace(table.cursor_row)

    def on_data_table_row_highlighted(self, message: DataTable.RowHighlighted) -> None:
        if message.data_table.id == "traces":
            self.show_trace(message.cursor_row)

    def show_trace(self, row: int) -> None:
        detail = self.query_one("#trace-detail", Static)
        if 0 <= row < len(self.traces):
            detail.update(Text(trace_text(self.traces[row])))
        else:
            detail.update("")
