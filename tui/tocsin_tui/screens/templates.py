"""Template preview: a Jinja editor beside what the daemon renders for a chosen event.

Rendering goes through `POST /templates/render` — the daemon's own sandboxed environment and
context, so the preview is exactly what an action would send. A render starts a moment after
the last keystroke; an error shows with its line, which is marked in the editor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Static, TextArea
from tocsin.client.resources import API

from ..connection import OFFLINE_ERRORS
from ..widgets.marked_text_area import MarkedTextArea
from ..worker_errors import ReportWorkerErrors
from .event_pick import PasteEventScreen, PickEventScreen

if TYPE_CHECKING:
    from ..dashboard import Dashboard

Event = dict[str, Any]

RENDER_AFTER = 0.25
STARTER = """\
{{ event.event }} on {{ event.resource.id }}
occurred: {{ event.occurred }}
{% for key, value in event.payload.items() %}
  {{ key }} = {{ value }}
{% endfor %}"""


class TemplateScreen(ReportWorkerErrors, Screen[None]):
    TITLE = "tocsin · template preview"
    app: Dashboard
    BINDINGS = [
        Binding("q", "app.quit", "Quit", id="templates.quit", show=False,
                tooltip="Quit the dashboard (when the editor is not focused)"),
        Binding("ctrl+o", "pick_event", "Pick event", id="templates.pick",
                tooltip="Render with an event from the feed"),
        Binding("ctrl+g", "paste_event", "Paste event", id="templates.paste",
                tooltip="Render with an event pasted as JSON"),
        Binding("ctrl+r", "render", "Render", id="templates.render", show=False,
                tooltip="Render again now"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.event: Event | None = None
        self.pasted = False
        self._timer: Timer | None = None
        self._preload: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="template-event")
        with Horizontal(id="template-panes"):
            yield MarkedTextArea(STARTER, id="template-editor", show_line_numbers=True,
                                 tab_behavior="indent")
            with VerticalScroll(id="template-output-box"):
                yield Static(id="template-output")
        yield Static(id="template-status")
        yield Footer()

    @property
    def editor(self) -> MarkedTextArea:
        return self.query_one("#template-editor", MarkedTextArea)

    def on_mount(self) -> None:
        if self.event is None and self.app.feed.events:
            self.event = self.app.feed.events[-1]
        if self._preload is not None:
            self.editor.load_text(self._preload)
        self.show_event()
        self.editor.focus()
        self.action_render()

    def preload(self, template: str | None = None, event: Event | None = None) -> None:
        """Start from an action's template and/or a chosen event (from other screens);
        before the first mount this only records them for on_mount."""
        if event is not None:
            self.event, self.pasted = event, False
        if not self.is_mounted:
            self._preload = template
            return
        if template is not None:
            self.editor.load_text(template)
        self.show_event()
        self.action_render()

    def show_event(self) -> None:
        if self.event is None:
            text = Content.from_markup("[dim]no event yet — ctrl+o picks one from the feed, "
                                       "ctrl+g pastes one[/]")
        else:
            text = Content.from_markup(
                "event [b]$name[/] · $rid [dim]($how)[/]", name=self.event.get("event", "?"),
                rid=self.event.get("resource", {}).get("prefect.resource.id", ""),
                how="pasted" if self.pasted else f"id {self.event.get('id', '?')}")
        self.query_one("#template-event", Static).update(text)

    @on(TextArea.Changed, "#template-editor")
    def text_changed(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(RENDER_AFTER, self.action_render)

    def action_render(self) -> None:
        self.render_preview(self.editor.text)

    @work(group="render", exclusive=True, exit_on_error=False)
    async def render_preview(self, template: str) -> None:
        event = self.event if self.pasted else None
        event_id = self.event["id"] if self.event is not None and not self.pasted else None
        try:
            # The whole answer, whatever its status: an error's body holds its line.
            status, result = await self.app.connection.client.request_status(
                *API.templates.render(template, event, event_id))
        except OFFLINE_ERRORS as exc:
            self.set_status("[b $warning]not rendered[/]: $msg", msg=f"daemon unreachable ({exc})")
            return
        if template != self.editor.text:
            return  # typed on meanwhile; a newer render is coming
        if status == 200:
            self.editor.mark_errors(set())
            self.query_one("#template-output", Static).update(Content(result["output"]))
            self.set_status("[b $success]✓ rendered[/] [dim]by the daemon, as an action would[/]")
            return
        self.show_error(result)

    def show_error(self, result: Any) -> None:
        """A refusal: a template error (message, line) or a request the daemon rejected."""
        info = result if isinstance(result, dict) else {"detail": result}
        line, message = info.get("line"), info.get("message")
        if message is None:
            detail = info.get("detail")
            if isinstance(detail, list):
                message = "; ".join(f"{d.get('loc', '')}: {d.get('msg', '')}" for d in detail)
            else:
                message = str(detail)
        self.editor.mark_errors({line - 1} if line else set())
        where = f"line {line}: " if line else ""
        self.set_status("[b $error]error[/] $msg", msg=f"{where}{message}")

    def set_status(self, markup: str, **values: str) -> None:
        self.query_one("#template-status", Static).update(Content.from_markup(markup, **values))

    def action_pick_event(self) -> None:
        self.app.push_screen(PickEventScreen(), self.use_event(pasted=False))

    def action_paste_event(self) -> None:
        self.app.push_screen(PasteEventScreen(self.event), self.use_event(pasted=True))

    def use_event(self, pasted: bool):  # type: ignore[no-untyped-def]
        def use(event: Event | None) -> None:
            if event is not None:
                self.event, self.pasted = event, pasted
                self.show_event()
                self.action_render()
        return use
