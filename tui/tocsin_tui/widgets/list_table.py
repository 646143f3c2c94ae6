"""The table every list screen uses: a row-cursor DataTable with the shared list keys, rows
set whole by key (the selection stays on its row), and one column that takes what width the
others leave, its cells cut in the middle so that long names keep both ends.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable

from ..text_cut import cut_middle
from .list_keys import LIST_KEYS

Row = tuple[str, Sequence[str]]  # (key, cells)
MIN_FLEX = 8


class ListTable(DataTable[Text]):
    BINDINGS = LIST_KEYS

    def __init__(self, *columns: str, flex: int = 0, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.column_names = columns
        self.flex = flex
        self.rows_set: list[Row] = []
        self._width = 0

    def on_mount(self) -> None:
        self.add_columns(*self.column_names)

    @property
    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def set_rows(self, rows: list[Row]) -> None:
        """Show these rows (a no-op when they are what is shown), keeping the cursor's row."""
        rows = [(key, tuple(cells)) for key, cells in rows]
        if rows == self.rows_set and self._width == self.size.width:
            return
        self.rows_set, self._width = rows, self.size.width
        keep = self.selected_key
        flex_width = self._flex_width(rows)
        self.clear()
        for key, cells in rows:
            shown = [cut_middle(c, flex_width) if i == self.flex else c
                     for i, c in enumerate(cells)]
            self.add_row(*map(Text, shown), key=key)  # Text: names are not markup
        keys = [key for key, _ in rows]
        if keep in keys:
            self.move_cursor(row=keys.index(keep))

    def _flex_width(self, rows: list[Row]) -> int:
        """What the other columns (at their widest cell, plus padding) leave for the flex one."""
        if not self.size.width:
            return 10_000  # not laid out yet: on_resize cuts them
        others = 0
        for i, name in enumerate(self.column_names):
            if i != self.flex:
                others += max([cell_len(name)] + [cell_len(c[i]) for _, c in rows])
        padding = 2 * self.cell_padding * len(self.column_names)
        return max(MIN_FLEX, self.size.width - others - padding - 2)  # 2: the scrollbar

    def on_resize(self) -> None:
        if self.rows_set:
            self.set_rows(self.rows_set)

    # -- the shared list keys ----------------------------------------------------------
    def action_list_first(self) -> None:
        self.action_scroll_top()

    def action_list_last(self) -> None:
        self.action_scroll_bottom()

    def action_list_half_down(self) -> None:
        self.move_cursor(row=self.cursor_row + max(1, self.size.height // 2))

    def action_list_half_up(self) -> None:
        self.move_cursor(row=max(0, self.cursor_row - max(1, self.size.height // 2)))
