"""The events an action attempt leaves behind (§8.1): `prefect.automation.action.triggered`,
then `.executed` or `.failed` with its reason, related to the action's targets, the
automation's state-change event and the event that triggered it."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import msgspec

from ..events import lineage
from ..events.model import Event, utcnow, uuid7
from .outbox import Job

FOLLOW_WINDOW = timedelta(minutes=5)


def automation_resource(automation: dict[str, Any]) -> dict[str, str]:
    trigger = automation.get("trigger") or {}
    resource = {
        "prefect.resource.id": f"prefect.automation.{automation.get('id', '')}",
        "prefect.resource.name": str(automation.get("name", "")),
        "prefect.trigger-type": str(trigger.get("type", "event")),
    }
    if trigger.get("type", "event") == "event" and trigger.get("posture"):
        resource["prefect.posture"] = str(trigger["posture"])
    return resource


def related_resources(job: Job, results: list[dict[str, str]]) -> list[dict[str, str]]:
    related = list(results)
    related.extend(lineage.related(job.lineage[:-1]))  # the resource is the last link
    if job.automation_triggered_event_id:
        related.append({"prefect.resource.id": f"prefect.event.{job.automation_triggered_event_id}",
                        "prefect.resource.role": "automation-triggered-event"})
    if job.event is not None:
        related.append({"prefect.resource.id": f"prefect.event.{job.event.id}",
                        "prefect.resource.role": "triggering-event"})
    return related


def outcome_events(job: Job, *, ok: bool, reason: str | None, details: dict[str, Any],
                   results: list[dict[str, str]]) -> list[Event]:
    """`action.triggered` (same id on every attempt, so it is stored once) and this
    attempt's `.executed` or `.failed`."""
    resource = automation_resource(job.automation)
    related = related_resources(job, results)
    base = {"action_index": job.action_index, "action_type": job.action["type"],
            "invocation": job.invocation}
    triggered_at = job.firing.at
    follows = None
    if job.event is not None and abs(triggered_at - job.event.occurred) < FOLLOW_WINDOW:
        follows = job.event.id
    triggered = Event(event="prefect.automation.action.triggered", resource=resource,
                      related=related, payload=dict(base), occurred=triggered_at,
                      id=uuid.UUID(job.triggered_event_id), follows=follows)
    # Details come from executors (ours and the jobs part's): whatever they hold, the outcome
    # must be recordable, or the action would stay queued and run again and again.
    payload = {**base, **msgspec.to_builtins(details, enc_hook=repr), "attempt": job.attempts + 1}
    if not ok:
        payload["reason"] = reason
    outcome = Event(event=f"prefect.automation.action.{'executed' if ok else 'failed'}",
                    resource=dict(resource), related=[dict(r) for r in related],
                    payload=payload, occurred=utcnow(), id=uuid7(), follows=triggered.id)
    return [triggered, outcome]
