"""How automation state reads in the tables: pure formatting of the daemon's JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

OUTCOME_MARKS = {"done": "✓", "failed": "✗", "pending": "…"}


def short_time(iso: str | None) -> str:
    """Local month-day and time of an ISO timestamp; a dash when there is none."""
    if not iso:
        return "—"
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%m-%d %H:%M:%S")
    except ValueError:
        return iso


def _labels(labels: dict[str, str] | None) -> str:
    if not labels:
        return "(all)"
    return ", ".join(f"{k.removeprefix('prefect.resource.')}={v}" for k, v in labels.items())


def bucket_cells(bucket: dict[str, Any]) -> tuple[str, ...]:
    threshold = bucket.get("threshold")
    count = f"{bucket.get('count', 0)}" + (f"/{threshold}" if threshold else "")
    window = f"{short_time(bucket.get('window_start'))} → {short_time(bucket.get('window_end'))}"
    return (f"{bucket.get('posture', '')} {str(bucket.get('trigger_id', ''))[:8]}",
            _labels(bucket.get("labels")), count, window, short_time(bucket.get("deadline")))


def action_outcomes(outbox: list[dict[str, Any]]) -> dict[str, dict[int, str]]:
    """firing id -> action index -> "done" / "failed: reason" / "pending", from /actions."""
    out: dict[str, dict[int, str]] = {}
    for row in outbox:
        status = row.get("status", "?")
        if status == "failed" and row.get("last_error"):
            status = f"failed: {row['last_error']}"
        out.setdefault(row.get("firing_id", ""), {})[row.get("action_index", 0)] = status
    return out


def firing_cells(firing: dict[str, Any], outcomes: dict[int, str]) -> tuple[str, ...]:
    event = firing.get("triggering_event") or {}
    trigger = event.get("event", "—") if event else "— (proactive)"
    parts = []
    for i, action in enumerate(firing.get("actions") or []):
        kind = action.get("type", "?") if isinstance(action, dict) else str(action)
        status = outcomes.get(i, "pending")
        mark = OUTCOME_MARKS.get(status.split(":")[0], "")
        parts.append(f"{kind} {mark} {status}".replace("  ", " "))
    return (short_time(firing.get("at")), firing.get("state", "?"), trigger,
            "; ".join(parts) or "(no actions)")
