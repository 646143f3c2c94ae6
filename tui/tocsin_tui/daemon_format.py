"""How the daemon's objects (deployments, runs, pools, blocks, sizes) read in the tables:
pure formatting of its JSON, tested without an app."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .screens.automations_format import short_time


def starts_on(deployment: dict[str, Any]) -> str:
    """What starts a deployment's runs besides a person: its schedules, then its triggers."""
    parts = [schedule_text(s) for s in deployment.get("schedules") or []]
    parts += [trigger_text(t) for t in deployment.get("triggers") or []]
    return "; ".join(parts) or "—"


def schedule_text(schedule: dict[str, Any]) -> str:
    if schedule.get("cron"):
        zone = f" {schedule['timezone']}" if schedule.get("timezone") else ""
        return f"cron {schedule['cron']}{zone}"
    if schedule.get("interval"):
        return f"every {schedule['interval']}s"
    return str(schedule.get("rrule") or "?")


def trigger_text(trigger: dict[str, Any]) -> str:
    names = trigger.get("expect") or []
    return "on " + (", ".join(names) if names else f"a {trigger.get('type', '?')} trigger")


def run_duration(run: dict[str, Any], now: datetime) -> str:
    """How long a run took (or has been running)."""
    try:
        start = datetime.fromisoformat(run["start_time"])
    except (KeyError, TypeError, ValueError):
        return "—"
    try:
        end = datetime.fromisoformat(run["end_time"])
    except (KeyError, TypeError, ValueError):
        end = now
    seconds = max(0, int((end - start).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def run_cells(run: dict[str, Any], now: datetime) -> tuple[str, ...]:
    state = run.get("state") or {}
    return (run.get("name", "?"), run.get("deployment_name") or "—",
            state.get("name", "?"), short_time(run.get("start_time")), run_duration(run, now),
            run.get("id", "")[:8])


def limit_text(limit: Any) -> str:
    return "∞" if limit is None else str(limit)


def block_target(block: dict[str, Any]) -> str:
    """What a block sends to, as the daemon shows it (it masks the secrets itself)."""
    if block.get("urls"):
        return ", ".join(block["urls"])
    hook = block.get("webhook") or {}
    if hook.get("url"):
        headers = hook.get("headers") or {}
        return f"{hook.get('method', 'POST')} {hook['url']}" + \
            "".join(f" · {k}: {v}" for k, v in headers.items())
    return "—"


def size_text(n: float) -> str:
    """Bytes as people read them: 812 B, 3.4 KB, 1.2 MB."""
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GB"
