"""Rows of the events table built the way the store builds them, for the raw-SQLite
ceilings the benchmarks print beside their figures."""

from __future__ import annotations

from typing import Any

from tocsin.events.model import Event
from tocsin.events.writer import COLUMNS, NAME, RESOURCE, event_params


def event_rows(events: list[Event]) -> list[tuple[Any, ...]]:
    """INSERT's rows, names and resource ids already numbered (the ceiling times the events
    table alone, not the lookups)."""
    params = event_params(events)
    numbers: tuple[dict[str, int], dict[str, int]] = ({}, {})
    rows = []
    for i in range(0, len(params), COLUMNS):
        row = params[i:i + COLUMNS]
        for at, seen in zip((NAME, RESOURCE), numbers, strict=True):
            row[at] = seen.setdefault(row[at], len(seen) + 1)
        rows.append(tuple(row))
    return rows
