"""Asks for a run's parameters (as JSON, prefilled with the deployment's defaults) before
starting it; answers the parameters, or None when cancelled."""

from __future__ import annotations

import json
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


def parse_parameters(text: str) -> dict[str, Any]:
    """The typed parameters; ValueError with a message for the user when they are not a
    JSON object."""
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ValueError('parameters are a JSON object, e.g. {"batch": 3}')
    return data


class RunParametersScreen(ModalScreen[dict[str, Any] | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="run.cancel", key_display="esc",
                tooltip="Close without starting a run"),
    ]

    def __init__(self, deployment: str, defaults: dict[str, Any]) -> None:
        super().__init__()
        self.deployment = deployment
        self.defaults = defaults

    def compose(self) -> ComposeResult:
        with Vertical(id="run-box"):
            yield Label(Content(f"Run {self.deployment} with parameters (JSON), enter starts it"))
            yield Input(json.dumps(self.defaults), id="run-parameters")
            yield Static(id="run-error")

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        try:
            self.dismiss(parse_parameters(event.value))
        except ValueError as exc:
            self.query_one("#run-error", Static).update(Content(str(exc)))

    def action_cancel(self) -> None:
        self.dismiss(None)
