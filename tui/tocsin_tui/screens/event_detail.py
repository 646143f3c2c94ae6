"""One event in full: its resource, related resources by role, payload, as highlighted JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

if TYPE_CHECKING:
    from ..dashboard import Dashboard

Event = dict[str, Any]


def summary(event: Event) -> str:
    """Who is involved, by role: the part of an event one looks for first."""
    resource = event.get("resource") or {}
    lines = [f"[b]{escape(event.get('event', ''))}[/]  occurred {event.get('occurred', '?')}",
             f"resource  {escape(resource.get('prefect.resource.id', ''))}"]
    for rel in event.get("related") or []:
        role = rel.get("prefect.resource.role", "?")
        lines.append(f"{escape(role):>9} {escape(rel.get('prefect.resource.id', ''))}")
    return "\n".join(lines)


def event_json(event: Event, max_lines: int | None = None) -> Content:
    """The event as highlighted JSON; cut at `max_lines` (the side pane keeps up with a flood
    of events, and a megabyte payload would not help there)."""
    from textual.highlight import highlight  # pygments: loaded when first needed

    text = json.dumps(event, indent=2)
    if max_lines is not None:
        lines = text.splitlines()
        if len(lines) > max_lines:
            more = f"… {len(lines) - max_lines} more lines: press enter"
            text = "\n".join([*lines[:max_lines], more])
    return highlight(text, language="json")


class EventDetailScreen(Screen[None]):
    TITLE = "tocsin · event"
    app: Dashboard
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="detail.back", key_display="esc",
                tooltip="Back to the feed"),
        Binding("c", "copy", "Copy JSON", id="detail.copy",
                tooltip="Copy this event's JSON to the clipboard"),
        Binding("t", "template", "Template", id="detail.template",
                tooltip="Preview a template against this event"),
        Binding("w", "why", "Why (not)", id="detail.why", show=False,
                tooltip="Which automations looked at this event, and why (not)"),
    ]

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(summary(self.event), id="detail-summary")
        with VerticalScroll(id="detail-scroll"):
            yield Static(event_json(self.event), id="detail-json")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#detail-scroll").focus()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(json.dumps(self.event, indent=2))
        self.notify(f"Copied the JSON of {self.event.get('event')}", markup=False)

    def action_template(self) -> None:
        self.app.pop_screen()
        self.app.open_template(event=self.event)

    def action_why(self) -> None:
        from .event_explain import EventExplainScreen

        self.app.push_screen(EventExplainScreen(self.event))
