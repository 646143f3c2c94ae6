"""The dashboard application: screens as modes, the link to the daemon, themes and commands.

The app owns what every screen shares: the connection (one AsyncClient over the socket) and
the feed buffer the live stream fills. A timer moves newly arrived events to the screens a
few times a second, so a flood of events costs one UI update per tick, not one per event.
"""

from __future__ import annotations

import gc
import sys
from functools import partial
from collections.abc import Callable, Iterable
from typing import Any

from textual import work
from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from .connection import Connection
from .dashboard import Dashboard
from .feed_buffer import FeedBuffer
from .keymap import keymap_path, load_keymap
from .screen_list import APP_BINDINGS, MAIN_SCREENS
from .worker_errors import ReportWorkerErrors

Event = dict[str, Any]

FLUSH_INTERVAL = 0.08
FREEZE_AFTER = 1.0  # seconds after a screen is first shown: it is composed and loaded
DARK, LIGHT = "textual-dark", "textual-light"


class TocsinApp(ReportWorkerErrors, Dashboard):
    TITLE = "tocsin"
    CSS_PATH = "tocsin.tcss"
    MODES = {s.mode: s.make for s in MAIN_SCREENS}
    DEFAULT_MODE = "feed"
    BINDINGS = APP_BINDINGS

    def __init__(self, socket_path: str | None = None, *, autostart: bool = True,
                 theme: str = DARK, freeze_screens: bool = False) -> None:
        super().__init__()
        self.connection = Connection(socket_path)
        self.autostart = autostart
        self.feed = FeedBuffer()
        self.feed_listeners: list[Callable[[list[Event]], None]] = []
        self.theme = theme
        self.sub_title = "connecting…"
        self.keymap: dict[str, str] = {}
        self.freeze_screens = freeze_screens
        self.frozen_modes: set[str] = set()

    def on_mount(self) -> None:
        self.load_keymap()
        self.set_interval(FLUSH_INTERVAL, self.flush_feed)
        self.connect()
        self.mode_change_signal.subscribe(self, self.freeze_soon)
        self.freeze_soon(self.current_mode)

    def freeze_soon(self, mode: str) -> None:
        """Once a main screen is first up, keep its objects out of the garbage collector's
        full passes, as run() does for what is imported: the screen lives as long as the
        app, and with every screen open each full pass scanned them all, stalling the UI
        for up to ~70 ms of CPU while events stream in (tests/bench/tui.py). Only for the
        real dashboard (run()): frozen objects are never collected, which a test session
        opening hundreds of apps must not pay for."""
        if self.freeze_screens and mode not in self.frozen_modes:
            self.frozen_modes.add(mode)
            self.set_timer(FREEZE_AFTER, gc.freeze)

    def load_keymap(self) -> None:
        """Rebind keys by binding id from the user's keymap file (see keymap.py)."""
        from .screens.help import known_ids

        self.keymap, problems = load_keymap(keymap_path(), known_ids())
        self.set_keymap(self.keymap)
        for problem in problems:
            self.notify(problem, title="Keymap", severity="warning", timeout=10, markup=False)

    async def on_unmount(self) -> None:
        await self.connection.close()

    # -- the daemon -----------------------------------------------------------------------
    @work(group="connection", exclusive=True, exit_on_error=False)
    async def connect(self) -> None:
        """Find (or start) the daemon, then follow its live stream until the app ends."""
        try:
            up = await self.connection.ensure_daemon(self.autostart)
        except Exception as exc:  # whatever stopped the start: show it, keep retrying below
            self.set_connected(False, str(exc))
            self.notify(str(exc), title="Could not start the daemon", severity="error",
                        timeout=15, markup=False)
            up = False
        if self.connection.started is not None:
            self.notify(f"No daemon was running, so one was started (pid "
                        f"{self.connection.started.pid}); it logs to "
                        f"{self.connection.started_log}", title="Daemon started", timeout=8,
                        markup=False)
        if not up:
            self.set_connected(False, f"no daemon on {self.connection.socket_path}")
        await self.connection.follow(self.feed, self.set_connected)

    def set_connected(self, connected: bool, reason: str) -> None:
        self.sub_title = "connected" if connected else f"offline — {reason}; retrying"

    def flush_feed(self) -> None:
        new = self.feed.take_inbox()
        if new:
            for listener in self.feed_listeners:
                listener(new)

    # -- actions --------------------------------------------------------------------------
    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT if self.current_theme.dark else DARK

    async def run_in_mode(self, mode: str, action: str) -> None:
        """Go to a main screen and run one of its actions (for the command palette)."""
        await self.switch_mode(mode)
        await self.screen_stack[0].run_action(action)

    def open_template(self, template: str | None = None, event: Event | None = None) -> None:
        from .screens.templates import TemplateScreen

        self.switch_mode("templates")
        screen = self.screen_stack[0]
        if isinstance(screen, TemplateScreen):
            screen.preload(template=template, event=event)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for main in MAIN_SCREENS:
            yield SystemCommand(main.label, f"{main.about} ({main.key})",
                                partial(self.switch_mode, main.mode))
        yield SystemCommand("Help", "Every key, screen by screen (?)", self.action_help)
        yield SystemCommand("Light/dark theme", "Switch theme (ctrl+t)",
                            self.action_toggle_theme)
        for main in MAIN_SCREENS:
            for binding in own_bindings(main.load()):
                yield SystemCommand(f"{main.label}: {binding.description}",
                                    binding.tooltip or binding.description,
                                    partial(self.run_in_mode, main.mode, binding.action))
        if not isinstance(screen, tuple(main.load() for main in MAIN_SCREENS)):
            for binding in own_bindings(type(screen)):  # a dialog or sub-screen: its actions
                yield SystemCommand(binding.description, binding.tooltip or binding.description,
                                    partial(screen.run_action, binding.action))
        yield from super().get_system_commands(screen)


def own_bindings(screen_class: type[Screen]) -> list[Binding]:
    """A screen's own actions (not the app's, such as quit), as its bindings declare them."""
    return [b for b in screen_class.BINDINGS if isinstance(b, Binding)
            and not b.action.startswith("app.") and b.description]


def run(socket_path: str | None = None) -> int:
    app = TocsinApp(socket_path, freeze_screens=True)
    # Everything imported so far lives as long as the process: keep it out of the garbage
    # collector's full passes, which otherwise scan it all and stall the UI for up to
    # ~100 ms every few seconds while events stream in (measured by tests/bench/tui.py).
    gc.freeze()
    app.run()
    started = app.connection.started
    if started is not None and started.poll() is None:
        print(f"tocsin: the daemon started by the dashboard keeps running (pid {started.pid}, "
              f"log {app.connection.started_log})", file=sys.stderr)
    return 0
