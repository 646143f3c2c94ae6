"""Cutting names to a width in the middle, so that both ends stay readable.

Event names differ at their end (`prefect.automation.action.triggered` / `.failed` /
`.executed`): cut at the end they all look alike. Cut in the middle, at dots (or slashes,
in paths) where there are some, they read `prefect.…action.failed`.
"""

from __future__ import annotations

from rich.cells import cell_len

ELLIPSIS = "…"
SEPARATORS = "./"


def _head(text: str, width: int) -> str:
    """The longest start of `text` that fits `width` cells."""
    used = 0
    for i, char in enumerate(text):
        used += cell_len(char)
        if used > width:
            return text[:i]
    return text


def _tail(text: str, width: int) -> str:
    """The longest end of `text` that fits `width` cells."""
    return _head(text[::-1], width)[::-1]


def cut_middle(text: str, width: int) -> str:
    """`text` if it fits `width` cells, else its start and end around an ellipsis.

    The end gets most of the room (that is where names differ); both parts are trimmed to
    whole segments (between dots or slashes) when that keeps some of them.
    """
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    head = _head(text, (width - 1) * 2 // 5)
    ends = [i for i, c in enumerate(head[:-1]) if c in SEPARATORS]
    if ends:
        head = head[:ends[-1] + 1]
    tail = _tail(text, width - 1 - cell_len(head))
    starts = [i for i, c in enumerate(tail[:-1]) if c in SEPARATORS]
    if text[len(text) - len(tail) - 1] not in SEPARATORS and starts:
        tail = tail[starts[0] + 1:]
    return f"{head}{ELLIPSIS}{tail}"
