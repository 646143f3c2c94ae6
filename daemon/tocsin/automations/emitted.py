"""Events the automation system emits: state changes (§7) and lifecycle (§11).

They go back through ingestion like any other event, so automations can react to
automations.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..events import lineage
from ..events.model import Event, utcnow, uuid7
from ..firing import Firing
from .model import Automation, EventTrigger

STATE_EVENTS = {"triggered": "prefect.automation.triggered",
                "resolved": "prefect.automation.resolved"}


def automation_resource(automation: Automation) -> dict[str, str]:
    return {"prefect.resource.id": f"prefect.automation.{automation.id}",
            "prefect.resource.name": automation.name}


def state_change_event(automation: Automation, firing: Firing) -> Event:
    """`prefect.automation.triggered` / `.resolved` for a root firing, in Prefect's shape."""
    resource = automation_resource(automation)
    if isinstance(automation.trigger, EventTrigger):
        resource["prefect.posture"] = automation.trigger.posture
    trigger_event = firing.triggering_event
    related = lineage.related(lineage.chain_of(trigger_event))
    if trigger_event is not None:
        related.append({"prefect.resource.id": f"prefect.event.{trigger_event.id}",
                        "prefect.resource.role": "triggering-event"})
    payload: dict[str, Any] = {
        "triggering_labels": firing.triggering_labels,
        "triggering_event": msgspec.to_builtins(trigger_event) if trigger_event else None,
    }
    return Event(event=STATE_EVENTS[firing.state], occurred=firing.at, id=uuid7(),
                 resource=resource, related=related, payload=payload)


def lifecycle_event(automation: Automation, what: str) -> Event:
    """`prefect.automation.created` / `.updated` / `.deleted`, payload = the automation."""
    return Event(event=f"prefect.automation.{what}", occurred=utcnow(),
                 resource=automation_resource(automation), payload=automation.to_dict())


def loop_guard_event(automation: Automation, reason: str, chain: lineage.Chain,
                     names: dict[str, str], at: Any) -> Event:
    """The loop guard paused an automation (tocsin decision 11); `chain` is the causal chain
    of the firing it stopped, oldest first, each automation with its name."""
    steps = [{"id": aid, "name": names.get(aid, "")} for aid in chain]
    return Event(event="tocsin.automation.paused", occurred=at,
                 resource=automation_resource(automation),
                 payload={"reason": reason, "chain": steps})


def actions_for(automation: Automation, firing: Firing) -> list[Any]:
    """The actions a firing runs, in Prefect's order: `actions`, then `actions_on_trigger`
    (or `actions_on_resolve`)."""
    extra = (automation.actions_on_trigger if firing.state == "triggered"
             else automation.actions_on_resolve)
    return [*automation.actions, *extra]
