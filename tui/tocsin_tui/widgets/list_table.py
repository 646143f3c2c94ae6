"""The table every list screen uses: a row-cursor DataTable with the shared list keys, rows
set whole by key (the selection stays on its row), and flex columns that share what width
the others leave, their cells cut in the middle so that long names keep both ends.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable

from ..text_cut import cut_middle
from .list_keys import LIST_KEYS

Cell = str | Text  # a str is shown as is (never as markup); a Text keeps its styles
Row = tuple[str, Sequence[Cell]]  # (key, cells)
MIN_FLEX = 8


def width_of(cell: Cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


def as_text(cell: Cell, width: int | None) -> Text:
    """The cell as shown: cut in the middle to `width` (the flex column) if given."""
    if isinstance(cell, Text):
        return cell
    return Text(cut_middle(cell, width) if width is not None else cell)


class ListTable(DataTable[Text]):
    BINDINGS = LIST_KEYS

    def __init__(self, *columns: str, flex: Sequence[int] = (0,), id: str | None = None) -> None:
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
        widths = self._flex_widths(rows)
        self.clear()
        for key, cells in rows:
            self.add_row(*(as_text(c, widths.get(i)) for i, c in enumerate(cells)), key=key)
        keys = [key for key, _ in rows]
        if keep in keys:
            self.move_cursor(row=keys.index(keep))

    def _flex_widths(self, rows: list[Row]) -> dict[int, int]:
        """Each flex column's width: what the others (at their widest cell, plus padding)
        leave, shared out so that a column that needs less gives the rest to the others."""
        if not self.size.width:
            return {}  # not laid out yet: on_resize cuts them
        need = {i: max([cell_len(name)] + [width_of(c[i]) for _, c in rows])
                for i, name in enumerate(self.column_names)}
        padding = 2 * self.cell_padding * len(self.column_names)
        free = self.size.width - padding - 2 - sum(  # 2: the scrollbar
            w for i, w in need.items() if i not in self.flex)
        widths: dict[int, int] = {}
        for n, i in enumerate(sorted(self.flex, key=lambda i: need[i])):  # narrowest first
            share = max(MIN_FLEX, free // (len(self.flex) - n))
            widths[i] = min(need[i], share)
            free -= widths[i]
        return widths

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
