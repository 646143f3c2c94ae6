"""The dashboard's screens, in one list: each one's mode, number key, name and purpose.

The app builds its modes, its number-key bindings (APP_BINDINGS), the command palette and the help screen
from this list, so a new screen is one line here and one module under screens/. Screens are
imported on first use: the first screen shows sooner.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from textual.binding import Binding
from textual.screen import Screen


@dataclass(frozen=True)
class MainScreen:
    mode: str
    key: str
    label: str
    about: str
    target: str  # "module:Class" under tocsin_tui.screens

    def load(self) -> type[Screen]:
        return load(self.target)

    def make(self) -> Screen:
        return self.load()()


MAIN_SCREENS = [
    MainScreen("feed", "1", "Events", "The live event feed", "feed:FeedScreen"),
    MainScreen("automations", "2", "Automations", "List, toggle, edit and inspect automations",
               "automations:AutomationsScreen"),
    MainScreen("templates", "3", "Template preview", "Render a Jinja template for an event",
               "templates:TemplateScreen"),
    MainScreen("deployments", "4", "Deployments",
               "Schedules, triggers, recent runs; run one, pause or resume it",
               "deployments:DeploymentsScreen"),
    MainScreen("runs", "5", "Flow runs",
               "Runs and their states; logs, cancel, suspend, resume", "runs:RunsScreen"),
    MainScreen("pools", "6", "Work pools", "Work pools and queues: limits, pause, resume",
               "pools:PoolsScreen"),
    MainScreen("sources", "7", "Sources", "Watched files, webhooks and the spool, with counters",
               "sources:SourcesScreen"),
    MainScreen("blocks", "8", "Blocks", "Notification and webhook blocks (secrets masked)",
               "blocks:BlocksScreen"),
    MainScreen("status", "9", "Daemon status", "Uptime, store and WAL size, every part's counters",
               "status:StatusScreen"),
]

# The keys that work everywhere: help, a number for each main screen, the theme.
APP_BINDINGS = [
    Binding("question_mark,f1", "help", "Help", id="app.help", key_display="?",
            tooltip="Every key, screen by screen"),
    *(Binding(s.key, f"switch_mode('{s.mode}')", s.label, show=False, id=f"app.{s.mode}",
              tooltip=s.about) for s in MAIN_SCREENS),
    Binding("ctrl+t", "toggle_theme", "Light/dark", show=False, id="app.theme",
            tooltip="Switch between the light and the dark theme"),
]

# Screens and dialogs opened from a main screen, for the help (label, "module:Class").
SUB_SCREENS = [
    ("Automation editor", "automation_editor:AutomationEditorScreen"),
    ("Automation inspect", "automation_inspect:InspectScreen"),
    ("Why: traces and near-misses", "automation_traces:TracesScreen"),
    ("Why (not): an event", "event_explain:EventExplainScreen"),
    ("Flow run", "run_detail:RunDetailScreen"),
    ("Run parameters", "run_parameters:RunParametersScreen"),
    ("Emit a test event", "emit:EmitScreen"),
    ("Yes/no questions", "confirm:ConfirmScreen"),
    ("This help", "help:HelpScreen"),
]


def load(target: str) -> type[Screen]:
    module, _, name = target.partition(":")
    return getattr(import_module(f"tocsin_tui.screens.{module}"), name)
