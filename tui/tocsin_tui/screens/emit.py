"""A small form to emit a test event: name, resource id, extra labels, payload JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static
from tocsin.client.resources import API
from tocsin.client.sync import build_event
from tocsin.errors import ApiError

from ..worker_errors import ReportWorkerErrors

if TYPE_CHECKING:
    from ..dashboard import Dashboard


class FormError(ValueError):
    """A field of the form that cannot be used; the message names the field."""


def parse_labels(text: str) -> dict[str, str]:
    """`k=v k2=v2` (spaces or commas between) as resource labels."""
    labels: dict[str, str] = {}
    for item in text.replace(",", " ").split():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise FormError(f"labels: `{item}` is not key=value")
        labels[key] = value
    return labels


def build_test_event(name: str, resource_id: str, labels: str, payload: str) -> dict[str, Any]:
    if not name.strip():
        raise FormError("event name: required, e.g. order.created")
    if not resource_id.strip():
        raise FormError("resource id: required, e.g. shop.order.42")
    try:
        data = json.loads(payload) if payload.strip() else {}
    except json.JSONDecodeError as exc:
        raise FormError(f"payload: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise FormError("payload: must be a JSON object, e.g. {\"total\": 12}")
    resource = {"prefect.resource.id": resource_id.strip(), **parse_labels(labels)}
    return build_event(name.strip(), resource, payload=data)


FIELDS = [
    ("name", "event name", "tocsin.test", "order.created"),
    ("resource", "resource id", "tocsin.dashboard", "shop.order.42"),
    ("labels", "labels", "", "key=value …"),
    ("payload", "payload", "", '{"total": 12}'),
]


class EmitScreen(ReportWorkerErrors, ModalScreen[str | None]):
    app: Dashboard
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Cancel", id="emit.cancel", key_display="esc",
                tooltip="Close without emitting"),
        Binding("ctrl+s", "emit", "Emit", id="emit.send", tooltip="Emit the event"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="emit-box"):
            yield Label("[b]Emit a test event[/]  [dim]enter or ctrl+s sends[/]")
            for field, label, value, hint in FIELDS:
                with Horizontal(classes="form-row"):
                    yield Label(label, classes="form-label")
                    yield Input(value, placeholder=hint, id=f"emit-{field}", compact=True)
            yield Static(id="emit-error")
            with Horizontal(id="emit-buttons"):
                yield Button("Emit", variant="primary", id="emit-send")
                yield Button("Cancel", id="emit-cancel")

    def value(self, field: str) -> str:
        return self.query_one(f"#emit-{field}", Input).value

    @on(Input.Submitted)
    @on(Button.Pressed, "#emit-send")
    def action_emit(self) -> None:
        try:
            event = build_test_event(self.value("name"), self.value("resource"),
                                     self.value("labels"), self.value("payload"))
        except FormError as exc:
            self.show_error(str(exc))
            return
        self.send(event)

    def show_error(self, message: str) -> None:
        self.query_one("#emit-error", Static).update(
            Content.from_markup("[b $error]$msg[/]", msg=message))

    @on(Button.Pressed, "#emit-cancel")
    def cancel(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, exit_on_error=False)
    async def send(self, event: dict[str, Any]) -> None:
        try:
            result = await self.app.api(API.events.emit([event]), what="test event")
        except ApiError as exc:
            self.show_error(str(exc))
            return
        if result is not None:
            self.notify(f"Emitted {event['event']} ({event['id']})", markup=False)
            self.dismiss(event["id"])
