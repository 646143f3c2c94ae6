"""One flow run: its state timeline (from the run's own events), parameters and result, and
its log followed live while it runs; cancel, suspend or resume it from here.

The log is read from `/flow_runs/{id}/logs` by offset, so each poll brings only what is new.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Log, Static
from tocsin.client.resources import API

from ..changes import run_op
from ..worker_errors import ReportWorkerErrors
from .automations_format import short_time

if TYPE_CHECKING:
    from ..dashboard import Dashboard

POLL_EVERY = 0.5
FINAL_STATES = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
STATE_PREFIX = "prefect.flow-run."


def timeline(events: list[dict[str, Any]]) -> str:
    """`Pending 03:04:05 → Running 03:04:06 → Completed 03:04:09` from the run's events."""
    steps = [f"{e['event'].removeprefix(STATE_PREFIX)} {short_time(e.get('occurred'))[6:]}"
             for e in events if e.get("event", "").startswith(STATE_PREFIX)]
    return " → ".join(steps) or "—"


class RunDetailScreen(ReportWorkerErrors, Screen[None]):
    """A flow run's state timeline, parameters and live log."""

    app: Dashboard
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="run.back", key_display="esc",
                tooltip="Back to the list"),
        Binding("f", "toggle_follow", "Follow", id="run.follow",
                tooltip="Follow the log as it grows, or stop following"),
        Binding("c", "op('cancel')", "Cancel", id="run.cancel_run",
                tooltip="Cancel this run (asks first)"),
        Binding("s", "op('suspend')", "Suspend", id="run.suspend", tooltip="Suspend this run"),
        Binding("r", "op('resume')", "Resume", id="run.resume", tooltip="Resume this run"),
    ]

    def __init__(self, run: dict[str, Any]) -> None:
        super().__init__()
        self.flow_run = run
        self.log_offset = 0
        self.events: list[dict[str, Any]] = []
        self.following = True
        self.title = f"tocsin · run {run.get('name', run['id'])}"

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="run-summary")
        yield Static(id="run-timeline")
        yield Log(id="run-log", highlight=False, max_lines=10_000)
        yield Static(id="run-status", classes="status-line")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Log).focus()
        self.set_interval(POLL_EVERY, self.poll_if_shown)
        self.poll()

    def poll_if_shown(self) -> None:
        if self.is_current:
            self.poll()

    @work(group="run-poll", exclusive=True, exit_on_error=False)
    async def poll(self) -> None:
        rid = self.flow_run["id"]
        run = await self.app.api(API.runs.get(rid), quiet=True)
        if run is None:
            return
        self.flow_run = run
        logs = await self.app.api(API.runs.logs(rid, self.log_offset), quiet=True)
        if logs and logs.get("text"):
            self.log_offset = logs["offset"]
            log = self.query_one(Log)
            log.auto_scroll = self.following
            log.write(logs["text"])
        events = await self.app.api(API.events.filter(
            resource={"prefect.resource.id": f"prefect.flow-run.{rid}"},
            order="oldest", limit=100), quiet=True)
        if events:
            self.events = events["events"]
        self.show(run)

    def show(self, run: dict[str, Any]) -> None:
        state = run.get("state") or {}
        params = json.dumps(run.get("parameters") or {})
        result = f" · result {json.dumps(run['result'])}" if run.get("result") is not None else ""
        self.query_one("#run-summary", Static).update(Content.from_markup(
            "[b]$name[/] · $dep · [b]$state[/] $message\nparameters $params$result",
            name=run.get("name", ""), dep=run.get("deployment_name") or "no deployment",
            state=state.get("name", "?"), message=state.get("message") or "", params=params,
            result=result))
        self.query_one("#run-timeline", Static).update(Content(timeline(self.events)))
        live = state.get("type") not in FINAL_STATES
        follow = "following the log" if self.following else "not following (f follows)"
        self.query_one("#run-status", Static).update(Content(
            f"{follow} · c cancel · s suspend · r resume" if live else
            f"finished: {state.get('name', '?')} · log {self.log_offset:,} bytes"))

    def action_toggle_follow(self) -> None:
        self.following = not self.following
        log = self.query_one(Log)
        log.auto_scroll = self.following
        if self.following:
            log.scroll_end(animate=False)
        self.show(self.flow_run)

    @work(group="run-change", exit_on_error=False)
    async def action_op(self, op: str) -> None:
        if await run_op(self, self.flow_run, op) is not None:
            self.poll()
