"""Durations and points in time as people type them, parsed by one set of rules everywhere:
the config file, the CLI's `--since/--until`, action fields such as `schedule_after`, and the
`within` of triggers (which take only Prefect's forms, so a file stays readable by Prefect)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

_WITH_UNIT = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ISO = re.compile(r"^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
                  r"(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_ISO_SECONDS = (604800, 86400, 3600, 60, 1)


def parse_duration(value: Any, *, units: bool = True) -> timedelta:
    """Seconds (a number or numeric text), ISO 8601 (`PT10M`, `P1D`) — the forms Prefect
    takes — and, unless `units` is off, text like `500ms`, `90s`, `15m`, `2h`, `7d`, `1w`.
    Raises ValueError saying which forms are accepted."""
    forms = "seconds (600), e.g. 90s, 15m, 7d, or ISO 8601 (PT10M)" if units else \
        "seconds (600) or ISO 8601 (PT10M)"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a duration; use {forms}")  # noqa: TRY004 (validation)
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
    text = value.strip()
    try:
        return timedelta(seconds=float(text))
    except ValueError:
        pass
    m = _WITH_UNIT.match(text) if units else None
    if m:
        return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    m = _ISO.match(text.upper())
    if m and text.upper() not in ("P", "PT") and not text.upper().endswith("T"):
        return timedelta(seconds=sum(float(g or 0) * k for g, k in zip(m.groups(), _ISO_SECONDS)))
    raise ValueError(f"{value!r} is not a duration; use {forms}")


def parse_time(text: str, *, naive: tzinfo | None = None) -> datetime:
    """An ISO 8601 time, or an age such as `2h` or `PT30M` counted back from now. A time
    without a zone is taken in `naive` (None: the local zone, as a person would expect).
    Raises ValueError."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        try:
            age = parse_duration(text)
        except ValueError:
            raise ValueError(f"{text!r} is neither an ISO 8601 time "
                             "(e.g. 2026-01-01T12:00:00Z) nor an age like 2h") from None
        return datetime.now(UTC) - age
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=naive) if naive is not None else dt.astimezone()
    return dt


#: Longest window (and metric range) accepted: ten years. Past it a number is a mistake, and
#: one too large for a date (or not a number at all: NaN, infinity) would break the engine.
MAX_SECONDS = 10 * 365 * 86400.0


def parse_within(value: Any) -> float:
    """Seconds or ISO 8601 (`PT30M`), as Prefect takes them; not negative, and finite and at
    most MAX_SECONDS (NaN, infinity or a number too large for a date would break the engine)."""
    if value is None:
        raise ValueError("should be a valid timedelta (seconds or ISO 8601), not null")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number of seconds")
    try:
        seconds = parse_duration(value, units=False).total_seconds()
    except OverflowError:  # past what a timedelta holds, so far past MAX_SECONDS
        seconds = math.inf
    if seconds < 0:
        raise ValueError("must not be negative")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{seconds:g} seconds is more than the {MAX_SECONDS:g} (ten years) "
                         "accepted")
    return seconds
