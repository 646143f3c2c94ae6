"""The live event feed: newest at the bottom, filter as you type, pause, details, emit.

While following, new events that pass the filter go straight to the list. While paused the
list stays still (so a row can be read) and a badge counts what arrived meanwhile; resuming
shows the newest again. Older events than the list holds are paged from the store on demand.
"""

from __future__ import annotations

import json
from collections import deque
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Sparkline, Static
from tocsin.client.resources import API

from ..feed_filter import Predicate, compile_filter
from ..widgets.event_list import EventList
from ..worker_errors import ReportWorkerErrors
from .emit import EmitScreen
from .event_detail import EventDetailScreen, event_json

if TYPE_CHECKING:
    from ..dashboard import Dashboard

Event = dict[str, Any]

OLDER_PAGE = 500
OLDER_MAX_PAGES = 5
SIDE_PANE_LINES = 200
SIDE_PANE_EVERY = 0.25
RATE_SECONDS = 60


def unwrapped_height(content: Content, width: int) -> int | None:
    """The number of lines of `content` when none is wider than `width`, else None (it
    wraps, and its height is for the layout to find)."""
    lines = content.plain.split("\n")
    return len(lines) if all(cell_len(line) <= width for line in lines) else None


class FeedScreen(ReportWorkerErrors, Screen[None]):
    TITLE = "tocsin · events"
    # From 120 columns on, the selected event shows beside the list (see tocsin.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    app: Dashboard
    BINDINGS = [
        Binding("q", "app.quit", "Quit", id="feed.quit", tooltip="Quit the dashboard"),
        Binding("slash", "focus_filter", "Filter", id="feed.filter", key_display="/",
                tooltip="Filter: `order.*` (name wildcard), `order` (name or resource id "
                "contains), `key=value` (label; `id=` the resource id); terms combine"),
        Binding("space", "toggle_pause", "Pause", id="feed.pause",
                tooltip="Pause or resume following new events"),
        Binding("e", "emit", "Emit", id="feed.emit", tooltip="Emit a test event"),
        Binding("c", "copy", "Copy JSON", id="feed.copy", show=False,
                tooltip="Copy the selected event's JSON to the clipboard"),
        Binding("o", "older", "Older", id="feed.older", show=False,
                tooltip="Load older events from the store"),
        Binding("t", "template", "Template", id="feed.template", show=False,
                tooltip="Preview a template against the selected event"),
        Binding("escape", "focus_list", "Back to list", id="feed.back", show=False),
        Binding("w", "why", "Why (not)", id="feed.why", show=False,
                tooltip="Which automations looked at the selected event, and why (not)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.predicate: Predicate | None = None
        self.pending = 0
        self.side_pending = False
        self.side_height: int | None = None  # of the side pane's text, when no line wraps
        # Events a second that pass the filter, for the last minute (the chart by the status).
        self.rate: deque[int] = deque([0] * RATE_SECONDS, maxlen=RATE_SECONDS)
        self.this_second = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="/ filter: name (order.*), resource id, or key=value",
                    id="filter", compact=True)
        with Horizontal(id="feed-body"):
            yield EventList(id="events")
            with VerticalScroll(id="side-pane"):
                yield Static(id="side-json")
        with Horizontal(id="feed-bottom"):
            yield Static(id="feed-status")
            yield Sparkline(list(self.rate), id="rate-chart")
        yield Footer()

    @property
    def events_list(self) -> EventList:
        return self.query_one(EventList)

    def on_mount(self) -> None:
        self.rate_timer = self.set_interval(1.0, self.tick_rate)
        self.app.feed_listeners.append(self.add_events)
        self.rebuild()
        self.events_list.focus()

    def on_unmount(self) -> None:
        if self.add_events in self.app.feed_listeners:
            self.app.feed_listeners.remove(self.add_events)

    # -- content --------------------------------------------------------------------------
    def matching(self, events: Any) -> list[Event]:
        pred = self.predicate
        return list(events) if pred is None else [e for e in events if pred(e)]

    def add_events(self, new: list[Event]) -> None:
        """Called by the app's flush timer with each batch of new events."""
        shown = self.matching(new)
        self.this_second += len(shown)
        if self.events_list.following:
            self.events_list.append(shown)
        else:
            self.pending += len(shown)
        self.update_status()

    def tick_rate(self) -> None:
        """Close the second: the chart moves on by one."""
        self.rate.append(self.this_second)
        self.this_second = 0
        self.query_one("#rate-chart", Sparkline).data = list(self.rate)
        self.update_status()

    def rebuild(self) -> None:
        """Show the newest events that pass the filter, from what the app holds."""
        self.pending = 0
        self.events_list.replace(self.matching(self.app.feed.events))
        self.update_status()

    def update_status(self) -> None:
        rows = len(self.events_list.rows)
        if self.events_list.following:
            state = "[b]following[/]"
        else:
            state = f"[b $warning]paused[/] · {self.pending:,} new — space to resume"
        text = f"{state} · {rows:,} shown · {self.rate[-1]:,}/s"
        if self.predicate is not None:
            text += " · filter [i]$filter[/]"
        self.query_one("#feed-status", Static).update(Content.from_markup(
            text, filter=self.query_one("#filter", Input).value), layout=False)

    # -- events ---------------------------------------------------------------------------
    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.predicate = compile_filter(event.value)
        self.events_list.set_following(True)
        self.rebuild()

    @on(Input.Submitted, "#filter")
    def filter_submitted(self) -> None:
        self.events_list.focus()

    def on_event_list_follow_changed(self, message: EventList.FollowChanged) -> None:
        if message.following and self.pending:
            self.rebuild()
        self.update_status()

    def on_event_list_cursor_moved(self) -> None:
        """Refresh the side pane at most a few times a second: while following a flood the
        selection changes with every batch, and each update lays the pane out again."""
        if self.has_class("-wide") and not self.side_pending:
            self.side_pending = True
            self.set_timer(SIDE_PANE_EVERY, self.show_side)

    def on_resize(self) -> None:
        if self.has_class("-wide"):
            self.show_side()

    def show_side(self) -> None:
        """Show the selected event beside the list. Laying the screen out again is the
        costliest part of a frame (the longest stalls of a flood were these), and is needed
        only when the pane's height changes: not while one event after another of the same
        shape goes by."""
        self.side_pending = False
        event = self.events_list.selected
        pane = self.query_one("#side-json", Static)
        content = event_json(event, SIDE_PANE_LINES) if event else Content("no event selected")
        height = unwrapped_height(content, pane.content_size.width)
        pane.update(content, layout=height is None or height != self.side_height)
        self.side_height = height

    def on_event_list_selected(self, message: EventList.Selected) -> None:
        self.app.push_screen(EventDetailScreen(message.event))

    # -- actions --------------------------------------------------------------------------
    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_focus_list(self) -> None:
        self.events_list.focus()

    def action_toggle_pause(self) -> None:
        if self.events_list.following:
            self.events_list.set_following(False)
        else:
            self.events_list.action_cursor_end()

    def action_copy(self) -> None:
        event = self.events_list.selected
        if event is None:
            self.notify("No event selected", severity="warning", markup=False)
            return
        self.app.copy_to_clipboard(json.dumps(event, indent=2))
        self.notify(f"Copied the JSON of {event.get('event')} ({event.get('id')})", markup=False)

    def action_emit(self) -> None:
        self.app.push_screen(EmitScreen())

    def action_template(self) -> None:
        self.app.open_template(event=self.events_list.selected)

    def action_why(self) -> None:
        from .event_explain import EventExplainScreen

        event = self.events_list.selected
        if event is None:
            self.notify("No event selected", severity="warning", markup=False)
            return
        self.app.push_screen(EventExplainScreen(event))

    def action_older(self) -> None:
        self.events_list.set_following(False)
        self.load_older()

    @work(group="older", exclusive=True, exit_on_error=False)
    async def load_older(self) -> None:
        """Page events older than the top row from the store until some pass the filter."""
        rows = self.events_list.rows
        known = {e.get("id") for e in rows}
        body: dict[str, Any] = {"order": "newest", "limit": OLDER_PAGE}
        if rows:
            body["until"] = rows[0]["occurred"]
        for _ in range(OLDER_MAX_PAGES):
            page = await self.app.api(API.events.filter(**body), what="page of older events")
            if not page:
                return
            older = [e for e in self.matching(page["events"]) if e.get("id") not in known]
            if older:
                self.events_list.prepend(list(reversed(older)))
                self.notify(f"Loaded {len(older)} older events", markup=False)
                self.update_status()
                return
            if not page.get("next_page"):
                break
            body = {"page_token": page["next_page"], "limit": OLDER_PAGE, "order": "newest"}
        self.notify("No older events match", severity="information", markup=False)
