"""Rows of the events table built the way the store builds them, for the raw-SQLite
ceilings the benchmarks print beside their figures."""

from __future__ import annotations

from typing import Any

from tocsin.events.model import Event
from tocsin.events.writer import COLUMNS, event_params


def event_rows(events: list[Event]) -> list[tuple[Any, ...]]:
    params = event_params(events)
    return [tuple(params[i:i + COLUMNS]) for i in range(0, len(params), COLUMNS)]
