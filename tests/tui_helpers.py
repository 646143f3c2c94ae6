"""Helpers shared by the dashboard tests: waiting on the real app without fixed sleeps, and
editing an automation in the editor."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.pilot import Pilot
from textual.widgets import TextArea


async def wait_for(pilot: Pilot, condition: Callable[[], object], timeout: float = 10.0,
                   what: str = "condition") -> None:
    """Let the app run until `condition()` is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.05)


def set_threshold(editor: TextArea, value: str) -> int:
    """Rewrite the `threshold:` line of the automation in the editor; returns its 0-based row."""
    lines = editor.text.splitlines()
    row = next(i for i, line in enumerate(lines) if line.strip().startswith("threshold:"))
    editor.replace(f"  threshold: {value}", (row, 0), (row, len(lines[row])))
    return row
