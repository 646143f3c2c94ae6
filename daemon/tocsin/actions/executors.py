"""What runs each action type. One async function per type, kept by the actions part by type
name: it brings the built-in ones, and the composition root adds the jobs part's
(`run-deployment`, the flow-run, deployment, work-pool and work-queue actions) and the
automations part's (`pause-automation`...), each bound to its part, with
`ActionsComponent.add_executors` — they get the queue, retries, templates and outcome events
for free.

An executor returns an ActionResult (details for the `.executed` event, related resources)
or raises `ActionFailed(reason, retry=..., **details)`; any other exception is a bug in the
executor and is recorded as a failure that is retried.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..events.model import Event
from .model import Action
from .outbox import Job
from .targets import ActionFailed

if TYPE_CHECKING:
    from ..config import ActionsConfig
    from .blocks import BlockStore

log = logging.getLogger("tocsin.actions")


@dataclass
class ActionRun:
    """Everything an executor may use for one attempt (executors of other parts are bound
    to their part, and reach it that way)."""

    job: Job
    action: Action
    #: the template context (for executors that render more than the template fields)
    context: dict[str, Any]
    #: resolved targets under Prefect's field names, e.g. {"automation_id": "..."}
    targets: dict[str, str]
    #: the rendered template fields (subject, body, payload, parameters)
    rendered: dict[str, Any]
    #: the notification and webhook blocks actions name
    blocks: BlockStore
    #: the `[actions]` settings in force (timeouts)
    settings: ActionsConfig
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


def executor_for(executors: Mapping[str, Executor], type_name: str) -> Executor:
    try:
        return executors[type_name]
    except KeyError:
        raise ActionFailed(f"tocsin cannot run '{type_name}' actions here: nothing that "
                           "carries them out is installed in this daemon") from None


async def do_nothing(run: ActionRun) -> ActionResult:
    log.info("do-nothing action of automation %s ran", run.job.automation.get("name"))
    return ActionResult()
