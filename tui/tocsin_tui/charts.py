"""Small pictures made of text, for table cells: bars for counts over time, marks for run
outcomes. (Wider charts above a table use Textual's Sparkline widget.)"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from rich.text import Text

BARS = " ▁▂▃▄▅▆▇█"
# Run state type -> (mark, style): what became of a run, read at a glance.
OUTCOMES = {"COMPLETED": ("✓", "green"), "FAILED": ("✗", "red"), "CRASHED": ("✗", "red"),
            "CANCELLED": ("⊘", "yellow"), "CANCELLING": ("⊘", "yellow"),
            "PAUSED": ("‖", "yellow"), "RUNNING": ("▶", "cyan"), "PENDING": ("…", "cyan"),
            "SCHEDULED": ("·", "")}


def bars(values: Sequence[float]) -> str:
    """One bar character a value, scaled to the largest; a zero is a blank."""
    top = max(values, default=0)
    if top <= 0:
        return " " * len(values)
    return "".join(BARS[0 if v <= 0 else max(1, round(v / top * (len(BARS) - 1)))]
                   for v in values)


def counts_by_slot(times: Iterable[str], now: datetime, slot_seconds: float,
                   slots: int) -> list[int]:
    """How many of the ISO `times` fall in each of the last `slots` slots before `now`,
    oldest slot first."""
    counts = [0] * slots
    for iso in times:
        try:
            age = (now - datetime.fromisoformat(iso)).total_seconds()
        except (TypeError, ValueError):
            continue
        slot = int(age // slot_seconds)
        if 0 <= slot < slots:
            counts[slots - 1 - slot] += 1
    return counts


def outcome_marks(state_types: Sequence[str]) -> Text:
    """Marks for runs given oldest first (✓ completed, ✗ failed, ▶ running…), coloured."""
    text = Text()
    for state in state_types:
        mark, style = OUTCOMES.get(state, ("?", ""))
        text.append(mark, style=style)
    return text
