"""Placeholder dashboard: shows the daemon's health until the real screens land."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static


class TocsinApp(App[None]):
    TITLE = "tocsin"
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(self, socket_path: str | None = None) -> None:
        super().__init__()
        self.socket_path = socket_path

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("tocsin dashboard", id="body")
        yield Footer()


def run(socket_path: str | None = None) -> int:
    TocsinApp(socket_path).run()
    return 0
