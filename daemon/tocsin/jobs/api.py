"""Socket API for jobs, shaped like Prefect's REST API where it has a counterpart:
/deployments, /flow_runs, /work_pools (with their queues)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from aiohttp import web

from ..errors import InvalidInput
from ..server.api import daemon_of, decode_body, json_response
from .component import JobsComponent
from .model import DEFAULT_NAMES, STATE_TYPES, to_json
from .project import check_spec

MAX_LOG_CHUNK = 1024 * 1024


def _jobs(request: web.Request) -> JobsComponent:
    comp = daemon_of(request).component("jobs")
    assert isinstance(comp, JobsComponent) and comp.service is not None
    return comp


def handler(fn: Any) -> Any:
    """A route handler that is also given the jobs component (its errors, NotFound and
    Conflict among them, are answered by the socket API's error middleware)."""
    @functools.wraps(fn)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        return await fn(request, _jobs(request))
    return wrapped


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    data = decode_body(raw, Any)
    if not isinstance(data, dict):
        raise InvalidInput([("$", "body must be a JSON object")])
    return data


def _opt_int(data: dict[str, Any], key: str) -> None:
    value = data.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise InvalidInput([(key, "must be a non-negative integer or null")])


def _pool_changes(data: dict[str, Any]) -> dict[str, Any]:
    _opt_int(data, "concurrency_limit")
    _opt_int(data, "priority")
    if "is_paused" in data and not isinstance(data["is_paused"], bool):
        raise InvalidInput([("is_paused", "must be true or false")])
    return {k: data[k] for k in ("concurrency_limit", "is_paused", "priority") if k in data}


# -- work pools and queues -------------------------------------------------------------------
@handler
async def list_pools(request: web.Request, jobs: JobsComponent) -> web.Response:
    svc = jobs.service
    return json_response([to_json(p) for p in svc.pools.values()])


@handler
async def create_pool(request: web.Request, jobs: JobsComponent) -> web.Response:
    data = await _body(request)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput([("name", "a work pool needs a name")])
    pool = await jobs.service.ensure_pool(name, type=data.get("type") or "process")
    pool = await jobs.service.update_pool(pool, _pool_changes(data))
    return json_response(to_json(pool), status=201)


@handler
async def get_pool(request: web.Request, jobs: JobsComponent) -> web.Response:
    return json_response(to_json(jobs.service.get_pool(request.match_info["pool"])))


@handler
async def update_pool(request: web.Request, jobs: JobsComponent) -> web.Response:
    pool = jobs.service.get_pool(request.match_info["pool"])
    pool = await jobs.service.update_pool(pool, _pool_changes(await _body(request)))
    return json_response(to_json(pool))


@handler
async def list_queues(request: web.Request, jobs: JobsComponent) -> web.Response:
    pool = jobs.service.get_pool(request.match_info["pool"])
    queues = [q for q in jobs.service.queues.values() if q.work_pool_id == pool.id]
    return json_response([to_json(q) for q in sorted(queues, key=lambda q: q.priority)])


@handler
async def create_queue(request: web.Request, jobs: JobsComponent) -> web.Response:
    pool = jobs.service.get_pool(request.match_info["pool"])
    data = await _body(request)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput([("name", "a work queue needs a name")])
    changes = _pool_changes(data)
    queue = await jobs.service.ensure_queue(pool, name, priority=changes.pop("priority", None))
    queue = await jobs.service.update_queue(queue, changes)
    return json_response(to_json(queue), status=201)


@handler
async def update_queue(request: web.Request, jobs: JobsComponent) -> web.Response:
    queue = jobs.service.get_queue(request.match_info["queue"], request.match_info.get("pool"))
    queue = await jobs.service.update_queue(queue, _pool_changes(await _body(request)))
    return json_response(to_json(queue))


# -- deployments -----------------------------------------------------------------------------
@handler
async def apply_deployment(request: web.Request, jobs: JobsComponent) -> web.Response:
    dep = await jobs.apply_deployment(check_spec(await _body(request)))
    return json_response(to_json(dep), status=201)


@handler
async def list_deployments(request: web.Request, jobs: JobsComponent) -> web.Response:
    deps = sorted(jobs.service.deployments.values(), key=lambda d: (d.flow_name, d.name))
    return json_response([to_json(d) for d in deps])


@handler
async def get_deployment(request: web.Request, jobs: JobsComponent) -> web.Response:
    return json_response(to_json(jobs.service.get_deployment(request.match_info["key"])))


@handler
async def delete_deployment(request: web.Request, jobs: JobsComponent) -> web.Response:
    dep = jobs.service.get_deployment(request.match_info["key"])
    await jobs.delete_deployment(dep)
    return json_response({"deleted": dep.id})


@handler
async def create_flow_run(request: web.Request, jobs: JobsComponent) -> web.Response:
    dep = jobs.service.get_deployment(request.match_info["key"])
    data = await _body(request)
    for key in ("parameters", "job_variables"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise InvalidInput([(key, "must be a JSON object")])
    run = await jobs.service.create_run(
        dep, parameters=data.get("parameters"), job_variables=data.get("job_variables"),
        idempotency_key=data.get("idempotency_key"), tags=data.get("tags"),
        created_by=data.get("created_by"))
    return json_response(to_json(run), status=201)


@handler
async def create_direct_run(request: web.Request, jobs: JobsComponent) -> web.Response:
    """`POST /flow_runs` {"flow_name", "parameters"?, "tags"?}: a run of a flow called
    directly (no deployment), Pending; its process then reports states with set_state."""
    data = await _body(request)
    name = data.get("flow_name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput([("flow_name", "required: the flow's name")])
    params, tags = data.get("parameters") or {}, data.get("tags") or []
    if not isinstance(params, dict):
        raise InvalidInput([("parameters", "must be a JSON object")])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidInput([("tags", "must be a list of strings")])
    assert jobs.worker is not None
    run = await jobs.service.create_direct_run(name, parameters=params, tags=tags,
                                               home=str(jobs.worker.home))
    return json_response(to_json(run), status=201)


async def _pause(request: web.Request, jobs: JobsComponent, paused: bool) -> web.Response:
    dep = jobs.service.get_deployment(request.match_info["key"])
    await jobs.service.set_deployment_paused(dep, paused)
    return json_response(to_json(dep))


@handler
async def pause_deployment(request: web.Request, jobs: JobsComponent) -> web.Response:
    return await _pause(request, jobs, True)


@handler
async def resume_deployment(request: web.Request, jobs: JobsComponent) -> web.Response:
    return await _pause(request, jobs, False)


# -- flow runs -------------------------------------------------------------------------------
@handler
async def list_runs(request: web.Request, jobs: JobsComponent) -> web.Response:
    q = request.query
    runs = sorted(jobs.service.runs.values(), key=lambda r: r.created, reverse=True)
    if dep_key := q.get("deployment"):
        dep = jobs.service.get_deployment(dep_key)
        runs = [r for r in runs if r.deployment_id == dep.id]
    if state := q.get("state"):
        known = set(STATE_TYPES) | set(DEFAULT_NAMES)
        if state not in known and all(state != r.state.name for r in runs):
            raise InvalidInput([("state", f"{state!r} is not a state name or type; use one of "
                                          f"{', '.join(sorted(known))}")])
        runs = [r for r in runs if state in (r.state.name, r.state.type)]
    limit = _int_query(request, "limit", 200)
    return json_response([to_json(r) for r in runs[:limit]])


def _int_query(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError:
        raise InvalidInput([(name, "must be an integer")]) from None


@handler
async def get_run(request: web.Request, jobs: JobsComponent) -> web.Response:
    return json_response(to_json(jobs.service.get_run(request.match_info["id"])))


@handler
async def run_logs(request: web.Request, jobs: JobsComponent) -> web.Response:
    run = jobs.service.get_run(request.match_info["id"])
    offset = _int_query(request, "offset", 0)
    text, end = "", offset
    if run.log_path:
        text, end = await asyncio.to_thread(_read_log, run.log_path, offset)
    return json_response({"text": text, "offset": end, "state": run.state.name})


def _read_log(path: str, offset: int) -> tuple[str, int]:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read(MAX_LOG_CHUNK)
    except FileNotFoundError:
        return "", offset
    return chunk.decode(errors="replace"), offset + len(chunk)


async def _run_op(request: web.Request, jobs: JobsComponent, op: str) -> web.Response:
    """The worker's `op` (cancel, suspend, resume) on the run, with the body's `message`."""
    run = jobs.service.get_run(request.match_info["id"])
    message = (await _body(request)).get("message", "")
    return json_response(to_json(await getattr(jobs.worker, op)(run, message)))


@handler
async def cancel_run(request: web.Request, jobs: JobsComponent) -> web.Response:
    return await _run_op(request, jobs, "cancel")


@handler
async def suspend_run(request: web.Request, jobs: JobsComponent) -> web.Response:
    return await _run_op(request, jobs, "suspend")


@handler
async def resume_run(request: web.Request, jobs: JobsComponent) -> web.Response:
    return await _run_op(request, jobs, "resume")


@handler
async def set_run_state(request: web.Request, jobs: JobsComponent) -> web.Response:
    """Prefect's `POST /flow_runs/{id}/set_state` with {"state": {type, name, message}, force}."""
    run = jobs.service.get_run(request.match_info["id"])
    data = await _body(request)
    state = data.get("state")
    if not isinstance(state, dict):
        raise InvalidInput([("state", "must be an object with `type` (and optional name, message)")])
    stype = state.get("type") or STATE_TYPES.get(state.get("name") or "")
    if stype not in DEFAULT_NAMES:
        raise InvalidInput([("state.type", f"must be one of {', '.join(DEFAULT_NAMES)}")])
    run = await jobs.worker.change_state(run, stype, state.get("name"), state.get("message") or "",
                                         bool(data.get("force", False)))
    return json_response(to_json(run))


@handler
async def claim_runs(request: web.Request, jobs: JobsComponent) -> web.Response:
    data = await _body(request)
    ids, pid = data.get("deployment_ids"), data.get("pid")
    if not isinstance(ids, list) or not isinstance(pid, int):
        raise InvalidInput([("$", "needs `deployment_ids` (a list) and `pid` (an integer)")])
    if data.get("stopping"):  # the serve process is going away
        await jobs.release(ids, pid)
        return json_response([])
    timeout = min(float(data.get("timeout", 10)), 60.0)
    return json_response(await jobs.claim(ids, pid, timeout))


@handler
async def run_started(request: web.Request, jobs: JobsComponent) -> web.Response:
    run = jobs.service.get_run(request.match_info["id"])
    pid = (await _body(request)).get("pid")
    if not isinstance(pid, int):
        raise InvalidInput([("pid", "must be the process id (an integer)")])
    return json_response(to_json(await jobs.started(run, pid)))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/work_pools", list_pools),
        web.post("/work_pools", create_pool),
        web.get("/work_pools/{pool}", get_pool),
        web.patch("/work_pools/{pool}", update_pool),
        web.get("/work_pools/{pool}/queues", list_queues),
        web.post("/work_pools/{pool}/queues", create_queue),
        web.patch("/work_pools/{pool}/queues/{queue}", update_queue),
        web.patch("/work_queues/{queue}", update_queue),
        web.get("/deployments", list_deployments),
        web.post("/deployments", apply_deployment),
        web.get("/deployments/{key}", get_deployment),
        web.delete("/deployments/{key}", delete_deployment),
        web.post("/deployments/{key}/create_flow_run", create_flow_run),
        web.post("/deployments/{key}/pause_deployment", pause_deployment),
        web.post("/deployments/{key}/resume_deployment", resume_deployment),
        web.get("/flow_runs", list_runs),
        web.post("/flow_runs", create_direct_run),
        web.post("/flow_runs/claim", claim_runs),
        web.get("/flow_runs/{id}", get_run),
        web.get("/flow_runs/{id}/logs", run_logs),
        web.post("/flow_runs/{id}/cancel", cancel_run),
        web.post("/flow_runs/{id}/suspend", suspend_run),
        web.post("/flow_runs/{id}/resume", resume_run),
        web.post("/flow_runs/{id}/set_state", set_run_state),
        web.post("/flow_runs/{id}/started", run_started),
    ]
