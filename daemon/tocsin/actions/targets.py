"""Which object an action works on: the id it names (`source: selected`) or the one inferred
from its triggering event (`source: inferred`, and always for flow-run actions), with
Prefect's rules and failure reasons (§8.2)."""

from __future__ import annotations

import uuid
from typing import Any

from ..events.model import Event
from .model import Action, FlowRunAction, TargetedAction


class ActionFailed(Exception):
    """An expected failure: recorded as `action.failed` with `reason` (and details).

    `retry` says whether trying again may succeed (a timeout, a 5xx), or never will (a 4xx,
    a template error, a missing target)."""

    def __init__(self, reason: str, *, retry: bool = False, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.details = details


def resolve_targets(action: Action, event: Event | None,
                    triggering_labels: dict[str, str]) -> dict[str, str]:
    """Prefect's field name -> target id (e.g. {"deployment_id": "..."}); {} for actions
    without a target. Raises ActionFailed with Prefect's reason when inference fails."""
    if isinstance(action, TargetedAction):
        if action.source == "selected":
            return {action.id_field: str(action.target_id)}
        return {action.id_field: infer(action.kind, event)}
    if isinstance(action, FlowRunAction):
        return {"flow_run_id": infer_flow_run(event, triggering_labels)}
    return {}


def infer(kind: str, event: Event | None) -> str:
    """The first involved resource of that kind; its id suffix must be a UUID."""
    human = kind.replace("-", " ")
    if event is None:
        raise ActionFailed(f"No event to infer the {human}")
    found = _first_of_kind(kind, event)
    if found is None:
        raise ActionFailed(f"No {human} could be inferred")
    return found


def infer_flow_run(event: Event | None, triggering_labels: dict[str, str]) -> str:
    """From the firing's `prefect.resource.id` label first (proactive for_each firings have no
    event), then from the event's involved resources."""
    labelled = _uuid_suffix(triggering_labels.get("prefect.resource.id", ""), "flow-run")
    if labelled:
        return labelled
    found = _first_of_kind("flow-run", event) if event is not None else None
    if found is None:
        raise ActionFailed("No flow run could be inferred")
    return found


def _first_of_kind(kind: str, event: Event) -> str | None:
    prefix = f"prefect.{kind}"
    for resource in event.involved_resources:
        rid = resource.get("prefect.resource.id", "")
        head, _, _ = rid.rpartition(".")
        if head == prefix:
            return _uuid_suffix(rid, kind)
    return None


def _uuid_suffix(resource_id: str, kind: str) -> str | None:
    head, _, tail = resource_id.rpartition(".")
    if head != f"prefect.{kind}":
        return None
    try:
        return str(uuid.UUID(tail))
    except ValueError:
        return None


def target_resources(targets: dict[str, str]) -> list[dict[str, str]]:
    """Related resources (role `target`) for the action events, one per resolved target."""
    out = []
    for field, ident in targets.items():
        kind = field.removesuffix("_id").replace("_", "-")
        out.append({"prefect.resource.id": f"prefect.{kind}.{ident}",
                    "prefect.resource.role": "target"})
    return out
