"""The actions that work on jobs (run-deployment, the flow-run actions, pause/resume of
deployments, work pools and queues), registered with the actions' executor registry, and the
`flow_run`, `flow`, `deployment`, `work_pool`, `work_queue` objects templates can name.

Targets arrive resolved (selected or inferred, by the actions part, with Prefect's rules);
here they are looked up and acted on, and every refusal becomes Prefect's failure reason.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..actions.context import PREFECT_OBJECTS, register_lazy_object
from ..actions.executors import ActionResult, ActionRun, register_executor
from ..actions.targets import ActionFailed
from ..errors import Conflict
from ..events.model import Event
from .model import ACTIVE_TYPES

if TYPE_CHECKING:
    from .component import JobsComponent


def _jobs(daemon: Any) -> JobsComponent:
    comp = daemon.component("jobs")
    if comp is None or getattr(comp, "service", None) is None:
        raise ActionFailed("the jobs part is not running in this daemon")
    return comp


def _automation(run: ActionRun) -> tuple[str, str]:
    return str(run.job.automation.get("id", "")), str(run.job.automation.get("name", ""))


def _target(run: ActionRun, table: str, id_field: str, label: str) -> tuple[JobsComponent, Any]:
    """The jobs part and the object `run.targets[id_field]` names in the service's `table`."""
    jobs = _jobs(run.daemon)
    obj = getattr(jobs.service, table).get(run.targets[id_field])
    if obj is None:
        raise ActionFailed(f"{label} {run.targets[id_field]} not found", status_code=404)
    return jobs, obj


def _flow_run(run: ActionRun) -> tuple[JobsComponent, Any]:
    return _target(run, "runs", "flow_run_id", "Flow run")


def _ok(**details: Any) -> ActionResult:
    return ActionResult(details={"status_code": 200, **details})


# -- deployments -----------------------------------------------------------------------------
async def run_deployment(run: ActionRun) -> ActionResult:
    """A new flow run, Scheduled at now + schedule_after, with the rendered parameters and
    job variables (over the deployment's own).

    A deployment served by a `serve` process that has stopped gets no run (nobody would
    start it; it would only turn Late): the action fails saying so, and serving again
    brings the trigger back to life."""
    jobs, dep = _target(run, "deployments", "deployment_id", "Deployment")
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


async def _deployment_paused(run: ActionRun, paused: bool) -> ActionResult:
    jobs, dep = _target(run, "deployments", "deployment_id", "Deployment")
    await jobs.service.set_deployment_paused(dep, paused)
    return _ok()


async def pause_deployment(run: ActionRun) -> ActionResult:
    return await _deployment_paused(run, True)


async def resume_deployment(run: ActionRun) -> ActionResult:
    return await _deployment_paused(run, False)


# -- work pools and queues -------------------------------------------------------------------
async def _pool_paused(run: ActionRun, paused: bool) -> ActionResult:
    jobs, pool = _target(run, "pools", "work_pool_id", "Work pool")
    await jobs.service.update_pool(pool, {"is_paused": paused})
    return _ok()


async def _queue_paused(run: ActionRun, paused: bool) -> ActionResult:
    jobs, queue = _target(run, "queues", "work_queue_id", "Work queue")
    await jobs.service.update_queue(queue, {"is_paused": paused})
    return _ok()


async def pause_work_pool(run: ActionRun) -> ActionResult:
    return await _pool_paused(run, True)


async def resume_work_pool(run: ActionRun) -> ActionResult:
    return await _pool_paused(run, False)


async def pause_work_queue(run: ActionRun) -> ActionResult:
    return await _queue_paused(run, True)


async def resume_work_queue(run: ActionRun) -> ActionResult:
    return await _queue_paused(run, False)


# -- flow runs -------------------------------------------------------------------------------
async def _flow_run_op(run: ActionRun, op: str, *args: Any) -> ActionResult:
    """Call the worker's `op` (cancel, suspend, resume) on the target run; a refusal is a 409."""
    jobs, flow_run = _flow_run(run)
    try:
        await getattr(jobs.worker, op)(flow_run, *args)
    except Conflict as exc:
        raise ActionFailed(f"Failed to {op} flow run: {exc}", status_code=409) from None
    return _ok()


async def cancel_flow_run(run: ActionRun) -> ActionResult:
    return await _flow_run_op(run, "cancel", f"Cancelled by Automation {_automation(run)[0]}")


async def suspend_flow_run(run: ActionRun) -> ActionResult:
    return await _flow_run_op(run, "suspend", f"Suspended by Automation {_automation(run)[0]}")


async def resume_flow_run(run: ActionRun) -> ActionResult:
    return await _flow_run_op(run, "resume")


async def change_flow_run_state(run: ActionRun) -> ActionResult:
    jobs, flow_run = _flow_run(run)
    action: Any = run.action
    message = action.message or f"State changed by Automation {_automation(run)[0]}"
    state_type = str(getattr(action.state, "value", action.state)).upper()
    try:
        await jobs.worker.change_state(flow_run, state_type, action.name, message, action.force)
    except Conflict as exc:
        raise ActionFailed(f"Failed to set state: {exc}", status_code=409) from None
    return _ok()


async def delete_flow_run(run: ActionRun) -> ActionResult:
    jobs, flow_run = _flow_run(run)
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


def _loader(kind: str, table: str) -> Any:
    async def load(daemon: Any, event: Event | None) -> Any:
        comp = daemon.component("jobs")
        ident = _first_id(event, kind)
        if comp is None or comp.service is None or ident is None:
            return None
        return getattr(comp.service, table).get(ident)
    return load


def register() -> None:
    for type_name, fn in (
            ("run-deployment", run_deployment), ("pause-deployment", pause_deployment),
            ("resume-deployment", resume_deployment), ("pause-work-pool", pause_work_pool),
            ("resume-work-pool", resume_work_pool), ("pause-work-queue", pause_work_queue),
            ("resume-work-queue", resume_work_queue), ("cancel-flow-run", cancel_flow_run),
            ("suspend-flow-run", suspend_flow_run), ("resume-flow-run", resume_flow_run),
            ("change-flow-run-state", change_flow_run_state),
            ("delete-flow-run", delete_flow_run)):
        register_executor(type_name, fn)
    tables = {"flow_run": "runs", "flow": "flows", "deployment": "deployments",
              "work_pool": "pools", "work_queue": "queues"}
    for name in PREFECT_OBJECTS:
        register_lazy_object(name, _loader(name.replace("_", "-"), tables[name]))

