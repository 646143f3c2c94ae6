"""Deployment triggers (§4.6): each trigger of a deployment becomes an automation owned by it
(`owner_resource = prefect.deployment.<id>`) whose one action is `run-deployment` of that
deployment, with the trigger's `parameters` (Jinja, rendered from the triggering event),
`job_variables` and `schedule_after`. On each deploy, the deployment's automations are
deleted and made again.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import InvalidInput
from .model import Deployment

if TYPE_CHECKING:
    from ..automations.model import Automation
    from ..events.model import Event

#: fields a deployment trigger has beyond an ordinary trigger
DEPLOYMENT_FIELDS = ("name", "description", "enabled", "parameters", "job_variables",
                     "schedule_after")


class Automations(Protocol):
    """What deployment triggers need of the automations part (its EngineComponent): the
    automations by id, and saving or deleting one with its lifecycle event."""

    automations: dict[str, Automation]

    async def save(self, automation: Automation, lifecycle: Event) -> None: ...

    async def delete(self, automation: Automation, lifecycle: Event) -> None: ...


def automation_for(dep: Deployment, trigger: dict[str, Any], index: int) -> dict[str, Any]:
    """The automation (as JSON) that one deployment trigger stands for."""
    body = dict(trigger)
    meta = {k: body.pop(k) for k in DEPLOYMENT_FIELDS if k in body}
    default_name = f"{dep.name}__automation_{index}"  # Prefect's rule, for serve and deploy
    action: dict[str, Any] = {"type": "run-deployment", "source": "selected",
                              "deployment_id": dep.id,
                              "parameters": meta.get("parameters"),
                              "job_variables": meta.get("job_variables"),
                              "schedule_after": meta.get("schedule_after", 0)}
    return {"name": meta.get("name") or default_name,
            "description": meta.get("description") or "",
            "enabled": meta.get("enabled", True), "trigger": body, "actions": [action],
            "owner_resource": f"prefect.deployment.{dep.id}"}


def parse_all(dep: Deployment) -> list[Any]:
    """Every trigger of the deployment as a validated Automation; InvalidInput names the
    trigger (`triggers[i]...`) for every problem, before anything is saved."""
    from ..automations.model import parse_automation

    out, errors = [], []
    for i, trigger in enumerate(dep.triggers):
        if not isinstance(trigger, dict):
            errors.append((f"triggers[{i}]", "a trigger must be an object"))
            continue
        try:
            out.append(parse_automation(automation_for(dep, trigger, i + 1)))
        except InvalidInput as exc:
            for path, message in exc.errors:
                path = path.removeprefix("trigger").lstrip(".")
                path = path.replace("actions[0].", "")
                errors.append((f"triggers[{i}]" + (f".{path}" if path and path[0] != "[" else path),
                               message))
    if errors:
        raise InvalidInput(errors)
    return out


async def delete_automations(engine: Automations, dep: Deployment) -> None:
    """Delete the automations the deployment owns (through the engine component, with their
    lifecycle events): on redeploy, and when the deployment itself is deleted."""
    from ..automations.emitted import lifecycle_event

    owner = f"prefect.deployment.{dep.id}"
    for old in [a for a in engine.all_automations() if a.owner_resource == owner]:
        await engine.delete(old, lifecycle_event(old, "deleted"))


async def replace_automations(engine: Automations, dep: Deployment,
                              automations: list[Automation]) -> None:
    """Delete the deployment's automations, then create the new ones."""
    from ..automations.emitted import lifecycle_event

    await delete_automations(engine, dep)
    now = datetime.now(UTC)
    for automation in automations:
        automation.id, automation.created, automation.updated = str(uuid.uuid4()), now, now
        await engine.save(automation, lifecycle_event(automation, "created"))
