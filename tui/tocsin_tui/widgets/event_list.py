"""A fast list of events: one row each (time, name, resource id, resource name), drawn with
Textual's line API so that only the rows on screen are ever rendered, however many arrive.

The widget holds the rows it shows and a cursor; what to show (filtering, pausing) is the
feed screen's business. While following, the cursor sits on the newest row at the bottom and
the oldest rows are trimmed to keep the list bounded; moving the cursor up stops following.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..text_cut import cut_middle
from .list_keys import LIST_KEYS

Event = dict[str, Any]

MAX_ROWS = 2_000
CELL_NAMES = ("time", "name", "resource", "label")
TIME_WIDTH = 12


def event_time(event: Event) -> str:
    """HH:MM:SS.mmm of when the event occurred, in local time."""
    try:
        when = datetime.fromisoformat(event["occurred"]).astimezone()
    except (KeyError, TypeError, ValueError):
        return "?"
    return when.strftime("%H:%M:%S.") + f"{when.microsecond // 1000:03d}"


class EventList(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "cursor_home", "Oldest", show=False),
        Binding("end", "cursor_end", "Newest (follow)", show=False),
        Binding("enter", "select", "Details", id="feed.details",
                tooltip="Show the whole event as JSON"),
        *LIST_KEYS,
    ]
    COMPONENT_CLASSES = {
        "event-list--cursor",
        "event-list--time",
        "event-list--name",
        "event-list--resource",
        "event-list--label",
    }

    class Selected(Message):
        """Enter (or a double click) on a row."""

        def __init__(self, event: Event) -> None:
            super().__init__()
            self.event = event

    class CursorMoved(Message):
        """The selected row is another event (or none): for a detail pane to follow."""

        def __init__(self, event: Event | None) -> None:
            super().__init__()
            self.event = event

    class FollowChanged(Message):
        def __init__(self, following: bool) -> None:
            super().__init__()
            self.following = following

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[Event] = []
        self.cursor = 0
        self.following = True
        self.max_rows = MAX_ROWS
        self._style_cache: dict[tuple[bool, bool], list[Style]] = {}
        self._announced: object = None

    # -- content ------------------------------------------------------------------------
    @property
    def selected(self) -> Event | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def replace(self, rows: list[Event]) -> None:
        """Show these rows (oldest first); the cursor goes to the newest."""
        self.rows = rows[-self.max_rows:] if self.following else list(rows)
        self.cursor = max(0, len(self.rows) - 1)
        self._resized()

    def append(self, rows: list[Event]) -> None:
        """Add new rows at the bottom; while following, trim the oldest beyond the bound."""
        if not rows:
            return
        self.rows.extend(rows)
        if self.following:
            excess = len(self.rows) - self.max_rows
            if excess > 0:
                del self.rows[:excess]
            self.cursor = len(self.rows) - 1
        self._resized()

    def prepend(self, rows: list[Event]) -> None:
        """Older rows (paged from the store) go on top; the view stays where it was."""
        if not rows:
            return
        self.rows[:0] = rows
        self.cursor += len(rows)
        self.scroll_to(y=self.scroll_offset.y + len(rows), animate=False, immediate=True)
        self._resized()

    def _resized(self) -> None:
        size = Size(self.scrollable_content_region.width, len(self.rows))
        if size != self.virtual_size:
            # Not `self.virtual_size = size`: that reactive re-lays out the whole screen
            # (20-50 ms at 120x40), and our box never changes size with the row count
            # (the scrollbar is always shown). Only the scrollbars need to know.
            self.set_reactive(EventList.virtual_size, size)
            self._scroll_update(size)
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()
        self._announce()

    def _announce(self) -> None:
        selected = self.selected
        key = selected.get("id") if selected is not None else None
        if key != self._announced:
            self._announced = key
            self.post_message(self.CursorMoved(selected))

    # -- cursor -------------------------------------------------------------------------
    def set_following(self, following: bool) -> None:
        if following != self.following:
            self.following = following
            self.post_message(self.FollowChanged(following))

    def move_cursor(self, row: int) -> None:
        if not self.rows:
            return
        self.cursor = max(0, min(row, len(self.rows) - 1))
        self.set_following(self.cursor == len(self.rows) - 1 and self.following)
        self.scroll_to_region(Region(0, self.cursor, 1, 1), animate=False, immediate=True)
        self.refresh()
        self._announce()

    def action_cursor_up(self) -> None:
        self.set_following(False)
        self.move_cursor(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor + 1)

    def action_page_up(self) -> None:
        self.set_following(False)
        self.move_cursor(self.cursor - max(1, self.size.height - 1))

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor + max(1, self.size.height - 1))

    def action_cursor_home(self) -> None:
        self.set_following(False)
        self.move_cursor(0)

    def action_cursor_end(self) -> None:
        self.move_cursor(len(self.rows) - 1)
        self.set_following(True)

    def action_list_first(self) -> None:
        self.action_cursor_home()

    def action_list_last(self) -> None:
        self.action_cursor_end()

    def action_list_half_down(self) -> None:
        self.move_cursor(self.cursor + max(1, self.size.height // 2))

    def action_list_half_up(self) -> None:
        self.set_following(False)
        self.move_cursor(self.cursor - max(1, self.size.height // 2))

    def action_select(self) -> None:
        if self.selected is not None:
            self.post_message(self.Selected(self.selected))

    def on_click(self, event: events.Click) -> None:
        row = event.y + self.scroll_offset.y
        if 0 <= row < len(self.rows):
            if row != len(self.rows) - 1:
                self.set_following(False)
            self.move_cursor(row)
            if event.chain >= 2:
                self.action_select()

    # -- drawing ------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = self.scroll_offset.y + y
        if not 0 <= index < len(self.rows):
            return Strip.blank(width, self._styles(False)[-1])
        return Strip(self._row_segments(self.rows[index], width, index == self.cursor), width)

    def _columns(self, width: int) -> tuple[int, int, int]:
        rest = max(0, width - TIME_WIDTH - 3)
        name = max(10, rest * 2 // 5)
        label = max(0, rest // 5)
        return name, max(0, rest - name - label), label

    def _styles(self, is_cursor: bool) -> list[Style]:
        """Styles of the four cells and the padding, worked out once per look (the rows of a
        frame share them; a flood of events re-renders every row every few frames)."""
        key = (is_cursor, self.has_focus)
        styles = self._style_cache.get(key)
        if styles is None:
            style = self.get_component_rich_style
            base = self.rich_style
            cursor = None
            if is_cursor:
                cursor = style("event-list--cursor", partial=not self.has_focus)
            cells = [base + style(f"event-list--{name}") for name in CELL_NAMES]
            styles = [s + cursor for s in cells] + [base + cursor] if cursor else cells + [base]
            self._style_cache[key] = styles
        return styles

    def _row_segments(self, event: Event, width: int, is_cursor: bool) -> list[Segment]:
        name_w, id_w, label_w = self._columns(width)
        resource = event.get("resource") or {}
        time_s, name_s, id_s, label_s, pad_s = self._styles(is_cursor)
        segments = [
            Segment(set_cell_size(event_time(event), TIME_WIDTH) + " ", time_s),
            Segment(set_cell_size(cut_middle(event.get("event", ""), name_w), name_w) + " ",
                    name_s),
            Segment(set_cell_size(cut_middle(resource.get("prefect.resource.id", ""), id_w),
                                  id_w) + " ", id_s),
            Segment(set_cell_size(resource.get("prefect.resource.name", ""), label_w), label_s),
        ]
        used = TIME_WIDTH + 3 + name_w + id_w + label_w
        if used < width:
            segments.append(Segment(" " * (width - used), pad_s))
        return segments

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style_cache.clear()

    def on_focus(self) -> None:
        self._style_cache.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._style_cache.clear()
        self.refresh()

    def on_resize(self) -> None:
        self._resized()
