"""Every call of the daemon's socket API, written once and grouped by resource.

A resource method only describes its call — method, path, body — as a `Call`, and hands it
to the `run` function it was built with. The sync client's `run` sends it and returns the
decoded answer; the async client's returns a coroutine of it; `API` (run = identity) returns
the `Call` itself, for code that passes a call around before running it (the dashboard asks
for a confirmation first, or reports an unreachable daemon its own way). So

    client.automations.list()            # SyncClient: the list
    await aclient.automations.list()     # AsyncClient: the same list
    aclient.send(API.automations.list()) # the same, described first and run later

Answers are the daemon's JSON (Prefect's shapes), noted in each method's docstring.
Kept to the standard library: importing the sync client must stay cheap (`tocsin emit`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode


class Call(NamedTuple):
    """One request to the daemon; `client.request(*call)` sends it."""

    method: str
    path: str
    body: Any = None


Run = Callable[[Call], Any]


def _q(key: str) -> str:
    """A name or id as one path segment (a name may hold `/` or spaces)."""
    return quote(str(key), safe="")


class _Resource:
    def __init__(self, run: Run) -> None:
        self._run = run

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        return self._run(Call(method, path, body))


class Events(_Resource):
    def emit(self, events: list[dict[str, Any]]) -> Any:
        """Store events (committed when it answers): {"accepted": n, ...}."""
        return self._call("POST", "/events", events)

    def filter(self, **fields: Any) -> Any:
        """A page of stored events: {"events": [...], "next_page": ...}. Fields as the API
        takes them: since, until, names, resource, limit, order, ..."""
        return self._call("POST", "/events/filter", fields)


class Automations(_Resource):
    def list(self) -> Any:
        """Every automation: [automation, ...]."""
        return self._call("POST", "/automations/filter", {})

    def get(self, id: str) -> Any:
        return self._call("GET", f"/automations/{_q(id)}")

    def by_name(self, name: str) -> Any:
        """The automation named so (404 when none is)."""
        return self._call("GET", f"/automations/name/{_q(name)}")

    def create(self, body: dict[str, Any]) -> Any:
        """A new automation from its JSON, or `{"yaml": text}`: the stored automation."""
        return self._call("POST", "/automations/", body)

    def replace(self, id: str, body: dict[str, Any]) -> Any:
        """Replace a stored definition (JSON, or `{"yaml": text}`): the stored automation."""
        return self._call("PUT", f"/automations/{_q(id)}", body)

    def set_enabled(self, id: str, enabled: bool) -> Any:
        return self._call("PATCH", f"/automations/{_q(id)}", {"enabled": enabled})

    def delete(self, id: str) -> Any:
        return self._call("DELETE", f"/automations/{_q(id)}")

    def apply(self, bodies: list[dict[str, Any]]) -> Any:
        """Create, update or leave each by name, all or nothing:
        [{"name", "id", "result": "created"|"updated"|"unchanged"}, ...]."""
        return self._call("POST", "/automations/apply", bodies)

    def validate(self, text: str) -> Any:
        """Check a YAML/JSON text without storing it: {"errors": [...], "automations": [...]}."""
        return self._call("POST", "/automations/validate", {"yaml": text})

    def state(self, id: str) -> Any:
        """Open windows, recent firings and near-misses of one automation."""
        return self._call("GET", f"/automations/{_q(id)}/state")

    def source(self, id: str) -> Any:
        """The text it was last written as: {"source": text|null}."""
        return self._call("GET", f"/automations/{_q(id)}/source")

    def explain(self, event: dict[str, Any], id: str | None = None) -> Any:
        """Why an event (`{"event_id": ...}` or the event itself) did or did not count: one
        explanation for automation `id`, else a list for every automation that came close."""
        path = f"/automations/{_q(id)}/explain" if id else "/automations/explain"
        return self._call("POST", path, event)

    def traces(self, id: str, limit: int) -> Any:
        """Its last `limit` firings, newest first: [trace, ...]."""
        return self._call("GET", f"/automations/{_q(id)}/traces?limit={int(limit)}")


class Deployments(_Resource):
    """Deployments by name or id (`key`)."""

    def list(self) -> Any:
        return self._call("GET", "/deployments")

    def get(self, key: str) -> Any:
        return self._call("GET", f"/deployments/{_q(key)}")

    def create(self, spec: dict[str, Any]) -> Any:
        """Register (or update by name) a deployment: the stored deployment."""
        return self._call("POST", "/deployments", spec)

    def delete(self, key: str) -> Any:
        return self._call("DELETE", f"/deployments/{_q(key)}")

    def pause(self, key: str) -> Any:
        return self._call("POST", f"/deployments/{_q(key)}/pause_deployment")

    def resume(self, key: str) -> Any:
        return self._call("POST", f"/deployments/{_q(key)}/resume_deployment")

    def run(self, key: str, parameters: dict[str, Any] | None = None) -> Any:
        """Start a run now: the new flow run."""
        return self._call("POST", f"/deployments/{_q(key)}/create_flow_run",
                          {"parameters": parameters or {}})


class Runs(_Resource):
    """Flow runs by id (a unique prefix will do) or name (`key`)."""

    def list(self, limit: int = 50, deployment: str | None = None,
             state: str | None = None) -> Any:
        """Newest first: [flow run, ...]."""
        query: dict[str, Any] = {"limit": limit}
        if deployment:
            query["deployment"] = deployment
        if state:
            query["state"] = state
        return self._call("GET", f"/flow_runs?{urlencode(query)}")

    def get(self, key: str) -> Any:
        return self._call("GET", f"/flow_runs/{_q(key)}")

    def logs(self, key: str, offset: int = 0) -> Any:
        """Its output from `offset` on: {"text", "offset" (the next one), "state"}."""
        return self._call("GET", f"/flow_runs/{_q(key)}/logs?offset={int(offset)}")

    def cancel(self, key: str, message: str | None = None) -> Any:
        return self._op(key, "cancel", message)

    def suspend(self, key: str, message: str | None = None) -> Any:
        return self._op(key, "suspend", message)

    def resume(self, key: str, message: str | None = None) -> Any:
        return self._op(key, "resume", message)

    def _op(self, key: str, op: str, message: str | None) -> Any:
        body = {} if message is None else {"message": message}
        return self._call("POST", f"/flow_runs/{_q(key)}/{op}", body)

    def create(self, flow_name: str, parameters: dict[str, Any], tags: list[str]) -> Any:
        """The record of a flow called directly (no deployment): the new flow run."""
        return self._call("POST", "/flow_runs", {"flow_name": flow_name,
                                                 "parameters": parameters, "tags": tags})

    def set_state(self, id: str, state: dict[str, Any], force: bool = True) -> Any:
        return self._call("POST", f"/flow_runs/{_q(id)}/set_state",
                          {"state": state, "force": force})

    def started(self, id: str, pid: int) -> Any:
        """A serving process started the run's process `pid`."""
        return self._call("POST", f"/flow_runs/{_q(id)}/started", {"pid": pid})

    def claim(self, deployment_ids: list[str], pid: int, *, timeout: float | None = None,
              stopping: bool = False) -> Any:
        """For `serve`: wait up to `timeout` for runs of these deployments that fall due
        ([run spec, ...]); `stopping` says this process serves them no more."""
        body: dict[str, Any] = {"deployment_ids": deployment_ids, "pid": pid}
        if timeout is not None:
            body["timeout"] = timeout
        if stopping:
            body["stopping"] = True
        return self._call("POST", "/flow_runs/claim", body)


class WorkPools(_Resource):
    """Work pools and their queues, by name."""

    def list(self) -> Any:
        return self._call("GET", "/work_pools")

    def create(self, body: dict[str, Any]) -> Any:
        """Create a pool, or change its limit: the stored pool."""
        return self._call("POST", "/work_pools", body)

    def set_paused(self, pool: str, paused: bool) -> Any:
        return self._call("PATCH", f"/work_pools/{_q(pool)}", {"is_paused": paused})

    def queues(self, pool: str) -> Any:
        return self._call("GET", f"/work_pools/{_q(pool)}/queues")

    def create_queue(self, pool: str, body: dict[str, Any]) -> Any:
        return self._call("POST", f"/work_pools/{_q(pool)}/queues", body)

    def set_queue_paused(self, pool: str, queue: str, paused: bool) -> Any:
        return self._call("PATCH", f"/work_pools/{_q(pool)}/queues/{_q(queue)}",
                          {"is_paused": paused})


class Blocks(_Resource):
    def list(self) -> Any:
        """Every block, secrets masked."""
        return self._call("GET", "/blocks")

    def create(self, body: dict[str, Any]) -> Any:
        """`{"name", "urls": [...]}` or `{"name", "webhook": {...}}`: the stored block."""
        return self._call("POST", "/blocks", body)

    def delete(self, name: str) -> Any:
        return self._call("DELETE", f"/blocks/{_q(name)}")


class Webhooks(_Resource):
    def list(self) -> Any:
        return self._call("GET", "/webhooks")

    def create(self, body: dict[str, Any]) -> Any:
        """`{"name", "template", "description", "auth"?}`: the webhook with its URL."""
        return self._call("POST", "/webhooks", body)

    def delete(self, name: str) -> Any:
        return self._call("DELETE", f"/webhooks/{_q(name)}")


class Templates(_Resource):
    def render(self, template: str, event: dict[str, Any] | None = None,
               event_id: str | None = None) -> Any:
        """What the template renders to for an event (given, or stored under `event_id`),
        as an action would: {"output": text}; a template error is a 422 with its line."""
        body: dict[str, Any] = {"template": template}
        if event is not None:
            body["event"] = event
        if event_id is not None:
            body["event_id"] = event_id
        return self._call("POST", "/templates/render", body)


class Actions(_Resource):
    def list(self, limit: int) -> Any:
        """The action queue (outbox), newest first."""
        return self._call("GET", f"/actions?limit={int(limit)}")


class Resources:
    """The whole API, each resource running its calls through `run`."""

    def __init__(self, run: Run) -> None:
        self._run_call = run
        self.events = Events(run)
        self.automations = Automations(run)
        self.deployments = Deployments(run)
        self.runs = Runs(run)
        self.work_pools = WorkPools(run)
        self.blocks = Blocks(run)
        self.webhooks = Webhooks(run)
        self.templates = Templates(run)
        self.actions = Actions(run)

    def health(self) -> Any:
        """Version, pid, uptime, socket, home, store sizes and every part's counters."""
        return self._run_call(Call("GET", "/health"))

    def emit(self, events: list[dict[str, Any]]) -> Any:
        return self.events.emit(events)

    def filter_events(self, **fields: Any) -> Any:
        return self.events.filter(**fields)


#: Descriptions only: `API.runs.cancel(id)` is the Call, to be run later by a client's `send`.
API = Resources(lambda call: call)
