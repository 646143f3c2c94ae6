"""Which automations looked at this event, and why they did or did not act on it.

Asks the daemon (`POST /automations/explain`, the engine's own matching code) about the
event; lists every automation that came close with each criterion's verdict. Opened with
`w` from the feed or an event's detail screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from tocsin.client.resources import API
from tocsin.cli.explain_cmds import explanation_text
from tocsin.errors import ApiError

from ..worker_errors import ReportWorkerErrors

if TYPE_CHECKING:
    from ..dashboard import Dashboard

NONE_CLOSE = ("No automation came close: none expects this name or matches this resource, "
              "and none is off by case, whitespace or one edit.")


class EventExplainScreen(ReportWorkerErrors, Screen[None]):
    TITLE = "tocsin · why (not)"
    app: Dashboard
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="explain.back", key_display="esc",
                tooltip="Back"),
    ]

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__()
        self.event = event

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="explain-scroll"):
            yield Static("asking the daemon…", id="explain-body")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(group="explain", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        body = self.query_one("#explain-body", Static)
        try:
            docs = await self.app.api(API.automations.explain({"event_id": self.event.get("id")}),
                                      what="explain")
        except ApiError as exc:
            body.update(Text(str(exc)))
            return
        if docs is not None:
            body.update(Text("\n\n".join(explanation_text(d) for d in docs) or NONE_CLOSE))
