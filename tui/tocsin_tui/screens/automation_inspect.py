"""One automation's live state: its open buckets (count, window, deadline) and its recent
firings with what became of their actions — "why has this (not) fired?" at a glance.

Reads `/automations/{id}/state` and the action outbox (`/actions`), every second while shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, Static
from tocsin.client.resources import API
from tocsin.errors import ApiError

from ..widgets.list_table import ListTable
from ..worker_errors import ReportWorkerErrors
from .automations_format import action_outcomes, bucket_cells, firing_cells
from .reloading import Reloading

if TYPE_CHECKING:
    from ..dashboard import Dashboard

REFRESH_EVERY = 1.0
OUTBOX_ROWS = 1_000


class InspectScreen(Reloading, ReportWorkerErrors, Screen[None]):
    app: Dashboard
    REFRESH_EVERY = REFRESH_EVERY
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="inspect.back", key_display="esc",
                tooltip="Back to the table"),
        Binding("r", "refresh", "Refresh", id="inspect.refresh", tooltip="Reload now"),
        Binding("w", "why", "Why", id="inspect.why", show=False,
                tooltip="Traces of recent firings and recent near-misses"),
    ]

    def __init__(self, automation: dict[str, Any]) -> None:
        super().__init__()
        self.automation = automation
        self.title = f"tocsin · inspect {automation['name']}"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("loading…", id="inspect-summary")
        with VerticalScroll(id="inspect-body"):
            yield Label("Live buckets", classes="section", id="buckets-title")
            yield ListTable("Trigger", "Labels", "Count", "Window", "Deadline", flex=(1,),
                            id="buckets")
            yield Label("Recent firings", classes="section", id="firings-title")
            yield ListTable("At", "State", "Triggering event", "Actions", flex=(2,), id="firings")
        yield Footer()

    def action_why(self) -> None:
        from .automation_traces import TracesScreen

        self.app.push_screen(TracesScreen(self.automation))

    @work(group="inspect", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        aid = self.automation["id"]
        try:
            state = await self.app.api(API.automations.state(aid), quiet=True)
            outbox = await self.app.api(API.actions.list(OUTBOX_ROWS), quiet=True)
        except ApiError as exc:
            self.query_one("#inspect-summary", Static).update(
                Content.from_markup("[b $error]$msg[/]", msg=str(exc)))
            return
        if state is not None:
            self.show(state, action_outcomes(outbox or []))

    def show(self, state: dict[str, Any], outcomes: dict[str, dict[int, str]]) -> None:
        enabled = "enabled" if state.get("enabled") else "disabled"
        self.query_one("#inspect-summary", Static).update(Content.from_markup(
            "[b]$name[/] · $enabled · state [b]$state[/]",
            name=state.get("name", ""), enabled=enabled, state=state.get("state", "?")))
        buckets = state.get("buckets") or []
        firings = state.get("recent_firings") or []
        self.query_one("#buckets-title", Label).update(
            f"Live buckets ({len(buckets)} open)" if buckets else
            "Live buckets — none open: no event has started a window")
        self.query_one("#firings-title", Label).update(
            f"Recent firings ({len(firings)})" if firings else "Recent firings — none yet")
        self.query_one("#buckets", ListTable).set_rows(
            [(str(i), bucket_cells(b)) for i, b in enumerate(buckets)])
        self.query_one("#firings", ListTable).set_rows(
            [(f.get("id") or str(i), firing_cells(f, outcomes.get(f.get("id", ""), {})))
             for i, f in enumerate(firings)])
