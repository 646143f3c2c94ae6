"""Choosing the event a template renders with: one from the feed, or pasted JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from ..widgets.event_list import event_time

if TYPE_CHECKING:
    from ..dashboard import Dashboard

Event = dict[str, Any]
MAX_CHOICES = 300


class PickEventScreen(ModalScreen[Event | None]):
    """The newest events the dashboard holds, newest first."""

    app: Dashboard
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="pick.cancel",
                        key_display="esc", tooltip="Keep the current event")]

    def compose(self) -> ComposeResult:
        events = list(self.app.feed.events)[-MAX_CHOICES:][::-1]
        self.choices = events
        with Vertical(id="pick-box", classes="dialog"):
            yield Label("[b]Pick the event to render with[/]  [dim]enter chooses[/]")
            if events:
                yield OptionList(*[Option(Content.assemble(
                    (event_time(e), "dim"), " ", (e.get("event", ""), "bold"), " ",
                    e.get("resource", {}).get("prefect.resource.id", "")), id=str(i))
                    for i, e in enumerate(events)], id="pick-list")
            else:
                yield Static("The feed holds no events yet: emit one (e on the feed), or "
                             "paste one with ctrl+g.")

    @on(OptionList.OptionSelected)
    def chosen(self, message: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[message.option_index])


def parse_event(text: str) -> Event:
    """Pasted JSON as an event object (the daemon validates its fields when rendering)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: line {exc.lineno}: {exc.msg}") from None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        raise ValueError("an event is a JSON object with event and resource")
    return data


class PasteEventScreen(ModalScreen[Event | None]):
    BINDINGS = [
        Binding("ctrl+s", "use", "Use event", id="paste.use", tooltip="Render with this event"),
        Binding("escape", "dismiss(None)", "Cancel", id="paste.cancel", key_display="esc",
                tooltip="Keep the current event"),
    ]

    def __init__(self, current: Event | None) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        example = json.dumps(self.current or {
            "event": "order.created", "resource": {"prefect.resource.id": "shop.order.1"},
            "payload": {}}, indent=2)
        with Vertical(id="paste-box", classes="dialog"):
            yield Label("[b]Paste an event (JSON)[/]  [dim]ctrl+s uses it · esc cancels[/]")
            yield TextArea(example, language=None, id="paste-text", tab_behavior="indent")
            yield Static(id="paste-error")

    def action_use(self) -> None:
        try:
            event = parse_event(self.query_one("#paste-text", TextArea).text)
        except ValueError as exc:
            self.query_one("#paste-error", Static).update(
                Content.from_markup("[b $error]$msg[/]", msg=str(exc)))
            return
        self.dismiss(event)
