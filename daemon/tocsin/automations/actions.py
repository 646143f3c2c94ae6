"""The actions that work on automations (`pause-automation`, `resume-automation`), bound to
the automations part and handed to the actions part by the composition root (`executors`).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from ..actions.executors import ActionResult, ActionRun, Executor
from ..actions.targets import ActionFailed
from ..events.model import utcnow
from .emitted import lifecycle_event

if TYPE_CHECKING:
    from .component import EngineComponent


async def set_enabled(engine: EngineComponent, enabled: bool, run: ActionRun) -> ActionResult:
    """What `PATCH /automations/{id}` with `{"enabled": ...}` does (trigger ids and window
    state are kept), through the engine component in-process."""
    automation_id = run.targets["automation_id"]
    automation = engine.automation(automation_id)
    if automation is None:
        raise ActionFailed(f"Automation {automation_id} not found", status_code=404)
    automation.updated = utcnow()
    await engine.set_enabled(automation, enabled, lifecycle_event(automation, "updated"))
    return ActionResult(details={"status_code": 204})


def executors(engine: EngineComponent) -> dict[str, Executor]:
    """The automation actions, by type, bound to `engine` (for `add_executors`)."""
    return {"pause-automation": partial(set_enabled, engine, False),
            "resume-automation": partial(set_enabled, engine, True)}
