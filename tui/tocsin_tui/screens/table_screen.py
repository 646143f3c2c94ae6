"""What the list screens for daemon objects share: a table reloaded every few seconds while
shown (and at once after a change made here), a status line, the selected object, and one
way to ask the daemon for a change and say how it went.

A screen names its columns and writes `fetch` (the rows, from the daemon); the rest is here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from tocsin.client.resources import Call
from tocsin.errors import ApiError

from ..changes import request_change
from ..widgets.list_table import ListTable, Row
from ..worker_errors import ReportWorkerErrors

if TYPE_CHECKING:
    from ..dashboard import Dashboard

Item = dict[str, Any]


class TableScreen(ReportWorkerErrors, Screen[None]):
    app: Dashboard
    COLUMNS: ClassVar[tuple[str, ...]] = ()
    FLEX: ClassVar[tuple[int, ...]] = (0,)  # the columns cut in the middle to fit
    REFRESH_EVERY: ClassVar[float] = 2.0
    NOUN: ClassVar[str] = "item"
    OPEN_ACTION: ClassVar[str | None] = None  # what enter on a row does

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, Item] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.compose_above()
        yield ListTable(*self.COLUMNS, flex=self.FLEX, id="list")
        yield Static("loading…", id="list-status", classes="status-line")
        yield Footer()

    def compose_above(self) -> ComposeResult:
        """Widgets above the table (a chart); none by default."""
        yield from ()

    @property
    def table(self) -> ListTable:
        return self.query_one("#list", ListTable)

    @on(DataTable.RowSelected)
    async def row_chosen(self) -> None:
        if self.OPEN_ACTION:
            await self.run_action(self.OPEN_ACTION)

    def on_mount(self) -> None:
        self.set_interval(self.REFRESH_EVERY, self.refresh_if_shown)

    def on_screen_resume(self) -> None:
        self.table.focus()
        self.load()

    def refresh_if_shown(self) -> None:
        if self.is_current:
            self.load(quiet=True)

    @work(group="table", exclusive=True, exit_on_error=False)
    async def load(self, quiet: bool = False) -> None:
        try:
            rows = await self.fetch(quiet)
        except ApiError as exc:
            self.set_status(f"the daemon refused: {exc}")
            return
        if rows is not None:
            self.table.set_rows(rows)
            self.set_status(self.summary())

    async def fetch(self, quiet: bool) -> list[Row] | None:
        """The rows to show (None: the daemon was not reached); fills `self.items`."""
        raise NotImplementedError

    def summary(self) -> str:
        n = len(self.items)
        return f"{n} {self.NOUN}{'s' if n != 1 else ''}"

    def set_status(self, text: str) -> None:
        self.query_one("#list-status", Static).update(Content(text), layout=False)

    def selected(self) -> Item | None:
        key = self.table.selected_key
        item = self.items.get(key) if key is not None else None
        if item is None:
            self.notify(f"No {self.NOUN} selected", severity="warning", markup=False)
        return item

    async def change(self, call: Call, done: str, confirm: str | None = None) -> Any:
        """Ask the daemon for a change (see changes.py), then reload."""
        answer = await request_change(self, call, done, confirm)
        if answer is not None:
            self.load()
        return answer
