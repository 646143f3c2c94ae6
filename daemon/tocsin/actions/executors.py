"""What runs each action type. One async function per type, found in a registry, so the jobs
part adds `run-deployment`, the flow-run, deployment, work-pool and work-queue actions with
`register_executor` and gets the queue, retries, templates and outcome events for free.

An executor returns an ActionResult (details for the `.executed` event, related resources)
or raises `ActionFailed(reason, retry=..., **details)`; any other exception is a bug in the
executor and is recorded as a failure that is retried.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..events.model import Event
from .model import Action
from .outbox import Job
from .targets import ActionFailed

if TYPE_CHECKING:
    from ..server.daemon import Daemon

log = logging.getLogger("tocsin.actions")


@dataclass
class ActionRun:
    """Everything an executor may use for one attempt."""

    daemon: Daemon
    job: Job
    action: Action
    #: the template context (for executors that render more than the template fields)
    context: dict[str, Any]
    #: resolved targets under Prefect's field names, e.g. {"automation_id": "..."}
    targets: dict[str, str]
    #: the rendered template fields (subject, body, payload, parameters)
    rendered: dict[str, Any]
    #: resources the attempt touched (blocks...), related on its outcome event even when it
    #: fails later on; executors append to it
    related: list[dict[str, str]] = field(default_factory=list)
    #: extra events the attempt emits with its outcome (e.g. `prefect.block.*.loaded`)
    events: list[Event] = field(default_factory=list)

    @property
    def idempotency_key(self) -> str:
        return self.job.key


@dataclass
class ActionResult:
    details: dict[str, Any] = field(default_factory=dict)
    #: resources the action touched or made, besides its targets (blocks, a new flow run)
    related: list[dict[str, str]] = field(default_factory=list)


Executor = Callable[[ActionRun], Awaitable[ActionResult]]
EXECUTORS: dict[str, Executor] = {}


def register_executor(type_name: str, executor: Executor) -> None:
    """Run actions of `type_name` (e.g. "run-deployment") with `executor`."""
    EXECUTORS[type_name] = executor


def executor_for(type_name: str) -> Executor:
    try:
        return EXECUTORS[type_name]
    except KeyError:
        raise ActionFailed(f"tocsin cannot run '{type_name}' actions here: nothing that "
                           "carries them out is installed in this daemon") from None


# -- the simple ones -----------------------------------------------------------------------

async def do_nothing(run: ActionRun) -> ActionResult:
    log.info("do-nothing action of automation %s ran", run.job.automation.get("name"))
    return ActionResult()


async def pause_automation(run: ActionRun) -> ActionResult:
    return await _set_automation_enabled(run, False)


async def resume_automation(run: ActionRun) -> ActionResult:
    return await _set_automation_enabled(run, True)


async def _set_automation_enabled(run: ActionRun, enabled: bool) -> ActionResult:
    """What `PATCH /automations/{id}` with `{"enabled": ...}` does (trigger ids and window
    state are kept), through the engine component in-process."""
    from ..automations.emitted import lifecycle_event
    from ..events.model import utcnow

    automation_id = run.targets["automation_id"]
    engine = run.daemon.component("engine")
    if engine is None:
        raise ActionFailed("the automation engine is not running in this daemon")
    automation = engine.automation(automation_id)  # type: ignore[attr-defined]
    if automation is None:
        raise ActionFailed(f"Automation {automation_id} not found", status_code=404)
    automation.updated = utcnow()
    await engine.set_enabled(automation, enabled,  # type: ignore[attr-defined]
                             lifecycle_event(automation, "updated"))
    return ActionResult(details={"status_code": 204})


register_executor("do-nothing", do_nothing)
register_executor("pause-automation", pause_automation)
register_executor("resume-automation", resume_automation)
