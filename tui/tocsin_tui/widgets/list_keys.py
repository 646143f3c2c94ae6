"""The movement keys every list shares (j/k/g/G/ctrl+d/ctrl+u), with one id each.

A list widget mixes in LIST_KEYS and implements the four list_* actions (cursor_up and
cursor_down it has already); the ids are what a user keymap rebinds.
"""

from __future__ import annotations

from textual.binding import Binding

LIST_KEYS = [
    Binding("j", "cursor_down", "Down", show=False, id="list.down", tooltip="Next row"),
    Binding("k", "cursor_up", "Up", show=False, id="list.up", tooltip="Previous row"),
    Binding("g", "list_first", "First", show=False, id="list.first", tooltip="First row"),
    Binding("G", "list_last", "Last", show=False, id="list.last", key_display="G",
            tooltip="Last row"),
    Binding("ctrl+d", "list_half_down", "Half page down", show=False, id="list.half_down",
            tooltip="Half a page down"),
    Binding("ctrl+u", "list_half_up", "Half page up", show=False, id="list.half_up",
            tooltip="Half a page up"),
]
