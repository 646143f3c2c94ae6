"""The automations table: name, enabled, state, last fired, times fired and a bar chart of
its firings over the last hour; toggle, delete, edit.

State comes from `/automations/{id}/state`; "last fired" and "times fired" are counted from
the `prefect.automation.triggered` events in the store (one query for all automations). The
table reloads when the live feed brings an event about an automation (and every 15 s), and at
once after each change made here.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from tocsin.client.resources import API, Call
from tocsin.errors import ApiError

from ..automation_yaml import first_template
from ..charts import bars, counts_by_slot
from ..connection import OFFLINE_ERRORS
from ..widgets.list_table import ListTable
from ..worker_errors import ReportWorkerErrors
from .automation_editor import AutomationEditorScreen
from .automation_inspect import InspectScreen
from .automations_format import short_time
from .confirm import ConfirmScreen

if TYPE_CHECKING:
    from ..dashboard import Dashboard

CHECK_EVERY = 0.5
REFRESH_ANYWAY = 15.0
AUTOMATION_EVENTS = ("prefect.automation.", "tocsin.automation.")
FIRED_EVENT = "prefect.automation.triggered"
MAX_COUNTED = 10_000
COLUMNS = ("Name", "Enabled", "State", "Last fired", "Fired", "Last hour")
HISTORY_SLOTS, HISTORY_SLOT_SECONDS = 12, 300  # the chart: twelve 5-minute bars


def fired_times(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    """automation id -> when it fired (newest first), from newest-first state events."""
    times: dict[str, list[str]] = {}
    prefix = "prefect.automation."
    for event in events:
        rid = event["resource"].get("prefect.resource.id", "")
        if rid.startswith(prefix):
            times.setdefault(rid[len(prefix):], []).append(event["occurred"])
    return times


class AutomationsScreen(ReportWorkerErrors, Screen[None]):
    TITLE = "tocsin · automations"
    app: Dashboard
    BINDINGS = [
        Binding("q", "app.quit", "Quit", id="automations.quit", tooltip="Quit the dashboard"),
        Binding("n", "new", "New", id="automations.new", tooltip="Write a new automation"),
        Binding("e", "edit", "Edit", id="automations.edit",
                tooltip="Edit the selected automation as YAML"),
        Binding("space", "toggle", "On/off", id="automations.toggle",
                tooltip="Enable or disable the selected automation"),
        Binding("i", "inspect", "Inspect", id="automations.inspect",
                tooltip="Live buckets and recent firings"),
        Binding("d", "delete", "Delete", id="automations.delete", show=False,
                tooltip="Delete the selected automation (asks first)"),
        Binding("t", "template", "Template", id="automations.template", show=False,
                tooltip="Preview the selected automation's first action template"),
        Binding("r", "refresh", "Refresh", id="automations.refresh", show=False,
                tooltip="Reload the table now"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.automations: dict[str, dict[str, Any]] = {}
        self.stale = True
        self.since_load = 0.0

    def compose(self) -> ComposeResult:
        yield Header()
        yield ListTable(*COLUMNS, id="automations")
        yield Static("loading…", id="automations-status")
        yield Footer()

    def on_mount(self) -> None:
        self.app.feed_listeners.append(self.watch_feed)
        self.set_interval(CHECK_EVERY, self.refresh_if_shown)

    def on_unmount(self) -> None:
        if self.watch_feed in self.app.feed_listeners:
            self.app.feed_listeners.remove(self.watch_feed)

    def on_screen_resume(self) -> None:
        self.query_one(ListTable).focus()
        self.action_refresh()

    def watch_feed(self, new: list[dict[str, Any]]) -> None:
        """Automations change state only with events about them: reload when one passes."""
        if any(e.get("event", "").startswith(AUTOMATION_EVENTS) for e in new):
            self.stale = True

    def refresh_if_shown(self) -> None:
        """Reload when the feed saw an automation event, and now and then regardless (an
        offline spell may have hidden some); the store query is not free."""
        self.since_load += CHECK_EVERY
        if self.is_current and (self.stale or self.since_load >= REFRESH_ANYWAY):
            self.load(quiet=True)

    # -- data -----------------------------------------------------------------------------
    @work(group="automations", exclusive=True, exit_on_error=False)
    async def load(self, quiet: bool = False) -> None:
        self.stale, self.since_load = False, 0.0
        try:
            found = await self.app.api(API.automations.list(), quiet=quiet,
                                       what="automation list")
        except ApiError as exc:
            self.set_status(f"the daemon did not list automations: {exc}")
            return
        if found is None:
            return
        states = await asyncio.gather(
            *(self.app.api(API.automations.state(a["id"]), quiet=True) for a in found),
            return_exceptions=True)
        history = await self.app.api(API.events.filter(
            names=[FIRED_EVENT], limit=MAX_COUNTED, order="newest"), quiet=True)
        self.show(found, states, fired_times(history["events"] if history else []))

    def show(self, found: list[dict[str, Any]], states: list[Any],
             fired: dict[str, list[str]]) -> None:
        rows = []
        now = datetime.now(UTC)
        for automation, state in zip(found, states):
            aid = automation["id"]
            times = fired.get(aid, [])
            count, last = len(times), times[0] if times else None
            rows.append((aid, (
                automation["name"],
                "● on" if automation.get("enabled", True) else "○ off",
                state["state"] if isinstance(state, dict) else "?",
                short_time(last),
                f"{count:,}" + ("+" if count >= MAX_COUNTED else ""),
                bars(counts_by_slot(times, now, HISTORY_SLOT_SECONDS, HISTORY_SLOTS)),
            )))
        self.automations = {a["id"]: a for a in found}
        self.set_status(f"{len(found)} automation{'s' if len(found) != 1 else ''} · "
                        "n new · e edit · space on/off · i inspect · d delete")
        self.query_one(ListTable).set_rows(rows)

    def set_status(self, text: str) -> None:
        self.query_one("#automations-status", Static).update(Content(text), layout=False)

    def selected(self) -> dict[str, Any] | None:
        aid = self.query_one(ListTable).selected_key
        if aid is None:
            self.notify("No automation selected", severity="warning", markup=False)
            return None
        return self.automations.get(aid)

    # -- actions --------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.load()

    def action_new(self) -> None:
        self.app.push_screen(AutomationEditorScreen(None), lambda _: self.action_refresh())

    @on(DataTable.RowSelected)
    def action_edit(self) -> None:
        automation = self.selected()
        if automation is not None:
            self.app.push_screen(AutomationEditorScreen(automation),
                                 lambda _: self.action_refresh())

    def action_inspect(self) -> None:
        automation = self.selected()
        if automation is not None:
            self.app.push_screen(InspectScreen(automation))

    def action_template(self) -> None:
        automation = self.selected()
        if automation is None:
            return
        template = first_template(automation)
        if template is None:
            self.notify(f"{automation['name']} has no action with a template",
                        severity="warning", markup=False)
            return
        self.app.open_template(template=template)

    @work(group="automation-change", exit_on_error=False)
    async def action_toggle(self) -> None:
        automation = self.selected()
        if automation is None:
            return
        enabled = not automation.get("enabled", True)
        await self.change(API.automations.set_enabled(automation["id"], enabled), automation,
                          "enabled" if enabled else "disabled")

    @work(group="automation-change", exit_on_error=False)
    async def action_delete(self) -> None:
        automation = self.selected()
        if automation is None:
            return
        sure = await self.app.push_screen_wait(ConfirmScreen(
            f"Delete the automation {automation['name']!r}? Its state and firing history "
            "go with it.", yes="Delete"))
        if sure:
            await self.change(API.automations.delete(automation["id"]), automation, "deleted")

    async def change(self, call: Call, automation: dict[str, Any], done: str) -> None:
        try:
            await self.app.connection.send(call)
        except (ApiError, *OFFLINE_ERRORS) as exc:
            self.notify(str(exc), title=f"{automation['name']} not {done}", severity="error",
                        markup=False)
            return
        self.notify(f"{automation['name']} {done}", markup=False)
        self.load()
