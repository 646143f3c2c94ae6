"""The actions that work on jobs (run-deployment, the flow-run actions, pause/resume of
deployments, work pools and queues), and the `flow_run`, `flow`, `deployment`, `work_pool`,
`work_queue` objects templates can name: each bound to the jobs part, and handed to the
actions part by the composition root (`executors`, `objects`).

Targets arrive resolved (selected or inferred, by the actions part, with Prefect's rules);
here they are looked up and acted on, and every refusal becomes Prefect's failure reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec

from ..actions.context import PREFECT_OBJECTS, LazyLoader
from ..actions.executors import ActionResult, ActionRun, Executor
from ..actions.targets import ActionFailed
from ..errors import Conflict
from ..events.model import Event
from .model import ACTIVE_TYPES, STATE_TYPES

if TYPE_CHECKING:
    from .component import JobsComponent

#: an executor of this module, before it is bound to the jobs part
JobsExecutor = Callable[["JobsComponent", ActionRun], Awaitable[ActionResult]]


def _running(jobs: JobsComponent) -> JobsComponent:
    if jobs.service is None:
        raise ActionFailed("the jobs part is not running in this daemon")
    return jobs


def _automation(run: ActionRun) -> tuple[str, str]:
    return str(run.job.automation.get("id", "")), str(run.job.automation.get("name", ""))


def _target(jobs: JobsComponent, run: ActionRun, table: str, id_field: str, label: str) -> Any:
    """The object `run.targets[id_field]` names in the jobs service's `table`."""
    obj = getattr(_running(jobs).service, table).get(run.targets[id_field])
    if obj is None:
        raise ActionFailed(f"{label} {run.targets[id_field]} not found", status_code=404)
    return obj


def _flow_run(jobs: JobsComponent, run: ActionRun) -> Any:
    return _target(jobs, run, "runs", "flow_run_id", "Flow run")


def _ok(**details: Any) -> ActionResult:
    return ActionResult(details={"status_code": 200, **details})


# -- deployments -----------------------------------------------------------------------------
async def run_deployment(jobs: JobsComponent, run: ActionRun) -> ActionResult:
    """A new flow run, Scheduled at now + schedule_after, with the rendered parameters and
    job variables (over the deployment's own).

    A deployment served by a `serve` process that has stopped gets no run (nobody would
    start it; it would only turn Late): the action fails saying so, and serving again
    brings the trigger back to life."""
    dep = _target(jobs, run, "deployments", "deployment_id", "Deployment")
    if dep.served_by is not None and not jobs.service.server_alive(dep.served_by):
        raise ActionFailed(f"Deployment {dep.flow_name}/{dep.name} is not ready: the `serve` "
                           "process that runs it has stopped, so no run was queued; serve it "
                           "again", status_code=409)
    action: Any = run.action
    aid, name = _automation(run)
    after = timedelta(seconds=action.schedule_after_seconds)
    flow_run = await jobs.service.create_run(
        dep, parameters=run.rendered["parameters"], job_variables=run.rendered["job_variables"],
        scheduled_at=jobs.service.clock() + after,
        idempotency_key=f"automation {aid}, action {run.job.action_index}, "
                        f"invocation {run.job.invocation}",
        created_by={"type": "AUTOMATION", "id": aid, "display_value": name,
                    "lineage": list(run.job.lineage[:-1])})
    return ActionResult(details={"status_code": 201}, related=[
        {"prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
         "prefect.resource.role": "flow-run", "prefect.resource.name": flow_run.name}])


async def _deployment_paused(jobs: JobsComponent, run: ActionRun, paused: bool) -> ActionResult:
    dep = _target(jobs, run, "deployments", "deployment_id", "Deployment")
    await jobs.service.set_deployment_paused(dep, paused)
    return _ok()


async def pause_deployment(jobs: JobsComponent, run: ActionRun) -> ActionResult:
    return await _deployment_paused(jobs, run, True)


async def resume_deployment(jobs: JobsComponent, run: ActionRun) -> ActionResult:
    return await _deployment_paused(jobs, run, False)


# -- work pools and queues -------------------------------------------------------------------
async def _pool_paused(jobs: JobsComponent, run: ActionRun, paused: bool) -> ActionResult:
    pool = _target(jobs, run, "pools", "work_pool_id", "Work pool")
    await jobs.service.update_pool(pool, {"is_paused": paused})
    return _ok()


async def _queue_paused(jobs: JobsComponent, run: ActionRun, paused: bool) -> ActionResult:
    queue = _target(jobs, run, "queues", "work_queue_id", "Work queue")
    await jobs.service.update_queue(queue, {"is_paused": paused})
    return _ok()


async def pause_work_pool(jobs: JobsComponent, run: ActionRun) -> ActionResult:
    return await _pool_paused(jobs, run, True)


async def resume_work_pool(jobs: JobsComponent, run: ActionRun) -> ActionResult:
    return await _pool_paused(jobs, run, False)


async def pause_work_queue(jobs: JobsComponent, run: ActionRun) -> ActionResult:
    return await _queue_paused(jobs, run, True)


async def resume_work_queue(jobs: JobsComponent, run: ActionRun) -> ActionResult:
    return await _queue_paused(jobs, run, False)


# -- flow runs -------------------------------------------------------------------------------
async def _flow_run_op(jobs: JobsComponent, run: ActionRun, op: str, *args: Any) -> ActionResult:
    """Call the worker's `op` (cancel, suspend, resume) on the target run; a refusal is a 409."""
    flow_run = _flow_run(jobs, run)
    try:
        await getattr(jobs.worker, op)(flow_run, *args)
    except Conflict as exc:
        raise ActionFailed(f"Failed to {op} flow run: {exc}", status_code=409) from None
    return _ok()


async def cancel_flow_run(jobs: JobsComponent, run: ActionRun) -> ActionResult:
    return await _flow_run_op(jobs, run, "cancel", f"Cancelled by Automation {_automation(run)[0]}")


async def suspend_flow_run(jobs: JobsComponent, run: ActionRun) -> ActionResult:
    return await _flow_run_op(jobs, run, "suspend", f"Suspended by Automation {_automation(run)[0]}")


async def resume_flow_run(jobs: JobsComponent, run: ActionRun) -> ActionResult:
    return await _flow_run_op(jobs, run, "resume")


async def change_flow_run_state(jobs: JobsComponent, run: ActionRun) -> ActionResult:
    flow_run = _flow_run(jobs, run)
    action: Any = run.action
    message = action.message or f"State changed by Automation {_automation(run)[0]}"
    state_type = str(getattr(action.state, "value", action.state)).upper()
    try:
        await jobs.worker.change_state(flow_run, state_type, action.name, message, action.force)
    except Conflict as exc:
        raise ActionFailed(f"Failed to set state: {exc}", status_code=409) from None
    return _ok()


async def delete_flow_run(jobs: JobsComponent, run: ActionRun) -> ActionResult:
    flow_run = _flow_run(jobs, run)
    if flow_run.state.type in ACTIVE_TYPES:
        await jobs.worker.cancel(flow_run, f"Deleted by Automation {_automation(run)[0]}")
    await jobs.service.delete_run(flow_run)
    return _ok()


# -- template objects ------------------------------------------------------------------------
def _first_id(event: Event | None, kind: str) -> str | None:
    if event is None:
        return None
    prefix = f"prefect.{kind}."
    for resource in event.involved_resources:
        rid = resource.get("prefect.resource.id", "")
        if rid.startswith(prefix):
            return rid[len(prefix):]
    return None


_STATE_LABELS = ("prefect.state-message", "prefect.state-name", "prefect.state-timestamp",
                 "prefect.state-type")


def _with_event_state(flow_run: dict[str, Any], event: Event | None) -> dict[str, Any]:
    """Prefect shows the state that caused the event, not the run's current one: when the
    event's resource carries all four state labels (and they parse), they replace `.state`."""
    labels = event.resource if event is not None else {}
    if not all(k in labels for k in _STATE_LABELS):
        return flow_run
    try:
        timestamp = datetime.fromisoformat(labels["prefect.state-timestamp"])
    except ValueError:
        return flow_run
    if labels["prefect.state-type"] not in STATE_TYPES.values():
        return flow_run
    state = dict(flow_run.get("state") or {})
    state.update(type=labels["prefect.state-type"], name=labels["prefect.state-name"],
                 message=labels["prefect.state-message"], timestamp=timestamp)
    return {**flow_run, "state": state}


def _loader(jobs: JobsComponent, name: str, table: str) -> LazyLoader:
    kind = name.replace("_", "-")

    async def load(event: Event | None) -> Any:
        ident = _first_id(event, kind)
        if jobs.service is None or ident is None:
            return None
        found = getattr(jobs.service, table).get(ident)
        if found is None or name != "flow_run":
            return found
        return _with_event_state(msgspec.to_builtins(found, builtin_types=(datetime,)), event)
    return load


_EXECUTORS: dict[str, JobsExecutor] = {
    "run-deployment": run_deployment, "pause-deployment": pause_deployment,
    "resume-deployment": resume_deployment, "pause-work-pool": pause_work_pool,
    "resume-work-pool": resume_work_pool, "pause-work-queue": pause_work_queue,
    "resume-work-queue": resume_work_queue, "cancel-flow-run": cancel_flow_run,
    "suspend-flow-run": suspend_flow_run, "resume-flow-run": resume_flow_run,
    "change-flow-run-state": change_flow_run_state, "delete-flow-run": delete_flow_run}
_TABLES = {"flow_run": "runs", "flow": "flows", "deployment": "deployments",
           "work_pool": "pools", "work_queue": "queues"}


def executors(jobs: JobsComponent) -> dict[str, Executor]:
    """The jobs actions, by type, bound to `jobs` (for `ActionsComponent.add_executors`)."""
    return {type_name: partial(fn, jobs) for type_name, fn in _EXECUTORS.items()}


def objects(jobs: JobsComponent) -> dict[str, LazyLoader]:
    """The template objects, by name, found in `jobs` (for `ActionsComponent.add_objects`)."""
    return {name: _loader(jobs, name, _TABLES[name]) for name in PREFECT_OBJECTS}
