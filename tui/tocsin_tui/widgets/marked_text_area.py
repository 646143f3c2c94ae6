"""A TextArea that marks lines the daemon reported errors on (YAML or Jinja)."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widgets import TextArea

ERROR_LINE_DARK = Style(bgcolor="#5c1f24", underline=True)
ERROR_LINE_LIGHT = Style(bgcolor="#ffd9d9", underline=True)


class MarkedTextArea(TextArea):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.error_lines: set[int] = set()

    def mark_errors(self, lines: set[int]) -> None:
        """Mark these 0-based lines (and clear the old marks)."""
        if lines != self.error_lines:
            self.error_lines = lines
            self._line_cache.clear()
            self.refresh()

    def get_line(self, line_index: int) -> Text:
        # TextArea's documented hook for styling a line on top of its highlighting.
        line = super().get_line(line_index)
        if line_index in self.error_lines:
            line.stylize(ERROR_LINE_DARK if self.app.current_theme.dark else ERROR_LINE_LIGHT)
        return line
