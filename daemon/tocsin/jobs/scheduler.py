"""Cron, interval and rrule schedules, as pure functions of time: which run times fall due between a
cursor and `now`. The daemon calls them from a loop on its clock; tests call them on virtual
time without sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from .model import Schedule

#: At most this many missed times are caught up per schedule after downtime (Prefect's
#: scheduler likewise caps how many runs it creates at once).
MAX_CATCH_UP = 10


def check_schedule(s: Schedule) -> str | None:
    """Why this schedule is unusable, or None."""
    if [s.cron, s.interval, s.rrule].count(None) != 2:
        return "give exactly one of `cron`, `interval` or `rrule`"
    if s.rrule is not None:
        try:
            _rrule(s, datetime.now(UTC))
        except (ValueError, TypeError) as exc:
            return f"`rrule` {s.rrule!r} is not a valid RFC 5545 rule: {exc}"
    if s.cron is not None and not croniter.is_valid(s.cron):
        return f"`cron` {s.cron!r} is not a valid cron expression"
    if s.interval is not None and s.interval <= 0:
        return "`interval` must be a positive number of seconds"
    try:
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"`timezone` {s.timezone!r} is not a known IANA time zone (e.g. Europe/Paris)"
    return None


def times_between(s: Schedule, after: datetime, until: datetime,
                  anchor: datetime | None = None) -> list[datetime]:
    """Schedule times t with after < t <= until, oldest first: the newest MAX_CATCH_UP of
    them (counted back from `until`, so a long downtime costs nothing to catch up)."""
    if not s.active or until <= after:
        return []
    out: list[datetime] = []
    if s.rrule is not None:
        rule, tz = _rrule(s, anchor or after), ZoneInfo(s.timezone)
        t = rule.before(_local(until, tz), inc=True)
        while t is not None and _aware(t, tz) > after and len(out) < MAX_CATCH_UP:
            out.append(_aware(t, tz).astimezone(until.tzinfo))
            t = rule.before(t)
    elif s.cron is not None:
        # get_prev is strict: start one second past `until` (cron has 1 s resolution).
        start = until.replace(microsecond=0) + timedelta(seconds=1)
        it = croniter(s.cron, start.astimezone(ZoneInfo(s.timezone)), day_or=s.day_or)
        while len(out) < MAX_CATCH_UP:
            t = it.get_prev(datetime).astimezone(until.tzinfo)
            if t <= after:
                break
            out.append(t)
    else:
        assert s.interval is not None
        step = timedelta(seconds=s.interval)
        base = anchor or after
        if until >= base:
            t = base + int((until - base) / step) * step
            while t > after and t >= base and len(out) < MAX_CATCH_UP:
                out.append(t)
                t -= step
    return sorted(out)


def next_time(s: Schedule, after: datetime, anchor: datetime | None = None) -> datetime | None:
    """The first schedule time after `after` (for sleeping until it)."""
    if not s.active:
        return None
    if s.rrule is not None:
        tz = ZoneInfo(s.timezone)
        t = _rrule(s, anchor or after).after(_local(after, tz))
        return None if t is None else _aware(t, tz).astimezone(after.tzinfo)
    if s.cron is not None:
        tz = ZoneInfo(s.timezone)
        return (croniter(s.cron, after.astimezone(tz), day_or=s.day_or).get_next(datetime)
                .astimezone(after.tzinfo))
    assert s.interval is not None
    step = timedelta(seconds=s.interval)
    base = anchor or after
    if after < base:
        return base
    return base + (int((after - base) / step) + 1) * step


def _rrule(s: Schedule, start: datetime) -> Any:
    """The rule, on naive wall-clock times in the schedule's time zone (a DTSTART in the text
    wins over `start`; time zones written in the text are ignored for `timezone`)."""
    from dateutil.rrule import rrulestr

    assert s.rrule is not None
    return rrulestr(s.rrule, dtstart=_local(start, ZoneInfo(s.timezone)), ignoretz=True,
                    cache=False)


def _local(t: datetime, tz: ZoneInfo) -> datetime:
    return t.astimezone(tz).replace(tzinfo=None, microsecond=0)


def _aware(t: datetime, tz: ZoneInfo) -> datetime:
    return t.replace(tzinfo=tz)
