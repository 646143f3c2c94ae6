"""The events jobs emit, in the exact shape Prefect's server gives them
(`src/prefect/server/models/events.py`), so automations written for Prefect match unchanged.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from ..events import lineage
from ..events.model import Event
from .model import Deployment, FlowRun, State, WorkPool, WorkQueue

TIGHT_TIMING = timedelta(minutes=5)
TRUNCATE_STATE_MESSAGES_AT = 100_000


def state_payload(state: State | None) -> dict[str, str] | None:
    if state is None:
        return None
    payload = {"type": state.type, "name": state.name}
    if state.message:
        payload["message"] = state.message[:TRUNCATE_STATE_MESSAGES_AT]
    return payload


def flow_run_related(run: FlowRun, deployment_tags: list[str] = ()) -> list[dict[str, str]]:
    """flow, deployment, work-queue, work-pool, then one `tag` per tag (sorted), then the
    creator (a deployment's schedule or an automation), as Prefect orders them."""
    related = [{"prefect.resource.id": f"prefect.flow.{run.flow_id}",
                "prefect.resource.role": "flow", "prefect.resource.name": run.flow_name}]
    if run.deployment_id:
        related.append({"prefect.resource.id": f"prefect.deployment.{run.deployment_id}",
                        "prefect.resource.role": "deployment",
                        "prefect.resource.name": run.deployment_name or ""})
    if run.work_queue_id:
        related.append({"prefect.resource.id": f"prefect.work-queue.{run.work_queue_id}",
                        "prefect.resource.role": "work-queue",
                        "prefect.resource.name": run.work_queue_name or ""})
    if run.work_pool_id:
        related.append({"prefect.resource.id": f"prefect.work-pool.{run.work_pool_id}",
                        "prefect.resource.role": "work-pool",
                        "prefect.resource.name": run.work_pool_name or "",
                        "prefect.work-pool.type": run.work_pool_type or "process"})
    for tag in sorted(set(run.tags) | set(deployment_tags)):
        related.append({"prefect.resource.id": f"prefect.tag.{tag}",
                        "prefect.resource.role": "tag"})
    creator = run.created_by or {}
    # what led to the creating automation, for the loop guard (events/lineage.py)
    related.extend(lineage.related(tuple(creator.get("lineage") or ())))
    if creator.get("type") in ("DEPLOYMENT", "AUTOMATION") and creator.get("id"):
        kind = creator["type"].lower()
        res = {"prefect.resource.id": f"prefect.{kind}.{creator['id']}",
               "prefect.resource.role": "creator"}
        if creator.get("display_value"):
            res["prefect.resource.name"] = str(creator["display_value"])
        related.append(res)
    return related


def flow_run_state_event(run: FlowRun, initial: State | None, deployment_tags: list[str] = ()
                         ) -> Event:
    """`prefect.flow-run.<State name>`; the event id is the new state's id, and it `follows`
    the previous state's event when the two are less than 5 minutes apart."""
    state = run.state
    follows = None
    if initial is not None and abs(state.timestamp - initial.timestamp) < TIGHT_TIMING:
        follows = uuid.UUID(initial.id)
    return Event(
        id=uuid.UUID(state.id),
        occurred=state.timestamp,
        event=f"prefect.flow-run.{state.name}",
        resource={
            "prefect.resource.id": f"prefect.flow-run.{run.id}",
            "prefect.resource.name": run.name,
            "prefect.run-count": str(run.run_count),
            "prefect.state-message": state.message[:TRUNCATE_STATE_MESSAGES_AT],
            "prefect.state-name": state.name,
            "prefect.state-timestamp": state.timestamp.isoformat(),
            "prefect.state-type": state.type,
        },
        related=flow_run_related(run, deployment_tags),
        payload={
            "intended": {"from": initial.type if initial else None, "to": state.type},
            "initial_state": state_payload(initial),
            "validated_state": _with_schedule(state_payload(state), run),
        },
        follows=follows,
    )


def _with_schedule(payload: dict[str, str] | None, run: FlowRun) -> dict[str, str] | None:
    """A Scheduled or Late state carries when the run is expected to start (Prefect keeps
    it in the state's details); metric triggers measure lateness from it."""
    if payload is not None and run.state.type == "SCHEDULED":
        payload["scheduled_time"] = run.expected_start_time.isoformat()
    return payload


def kebab(status: str) -> str:
    return status.lower().replace("_", "-")


def _pool_related(pool: WorkPool) -> dict[str, str]:
    return {"prefect.resource.id": f"prefect.work-pool.{pool.id}",
            "prefect.resource.name": pool.name, "prefect.work-pool.type": pool.type,
            "prefect.resource.role": "work-pool"}


def deployment_status_event(dep: Deployment, queue: WorkQueue | None, pool: WorkPool | None,
                            at: datetime) -> Event:
    """`prefect.deployment.ready` / `not-ready`."""
    related = [{"prefect.resource.id": f"prefect.flow.{dep.flow_id}",
                "prefect.resource.name": dep.flow_name, "prefect.resource.role": "flow"}]
    if queue is not None:
        related.append({"prefect.resource.id": f"prefect.work-queue.{queue.id}",
                        "prefect.resource.name": queue.name,
                        "prefect.resource.role": "work-queue"})
    if pool is not None:
        related.append(_pool_related(pool))
    return Event(occurred=at, event=f"prefect.deployment.{kebab(dep.status)}",
                 resource={"prefect.resource.id": f"prefect.deployment.{dep.id}",
                           "prefect.resource.name": dep.name},
                 related=related)


def work_queue_status_event(queue: WorkQueue, pool: WorkPool | None, at: datetime) -> Event:
    """`prefect.work-queue.ready` / `not-ready` / `paused`."""
    return Event(occurred=at, event=f"prefect.work-queue.{kebab(queue.status)}",
                 resource={"prefect.resource.id": f"prefect.work-queue.{queue.id}",
                           "prefect.resource.name": queue.name,
                           "prefect.resource.role": "work-queue"},
                 related=[_pool_related(pool)] if pool is not None else [])


def work_pool_status_event(pool: WorkPool, at: datetime, follows: str | None) -> Event:
    """`prefect.work-pool.ready` / `not-ready` / `paused`."""
    return Event(occurred=at, event=f"prefect.work-pool.{kebab(pool.status)}",
                 resource={"prefect.resource.id": f"prefect.work-pool.{pool.id}",
                           "prefect.resource.name": pool.name,
                           "prefect.work-pool.type": pool.type},
                 follows=uuid.UUID(follows) if follows else None)
