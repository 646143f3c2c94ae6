"""`/automations/...`: the management API, shaped like Prefect's.

Create (`POST /automations/`), list (`POST /automations/filter`), read, replace (PUT: new
trigger ids, so window state starts over), patch (`{"enabled": bool}`, state kept), delete,
validate (every error, nothing saved), and `GET /automations/{id}/state` — the answer to
"why has this not fired?".

Create and replace also take `{"yaml": TEXT}` (one automation): the daemon reads the
automation there and keeps the text as typed, its source, for whoever edits it next (the
dashboard's editor); `GET /automations/{id}/source` gives it back. A JSON body changes the
automation without a text, so the kept one (no longer what it says) is dropped. The source
lives beside the automation: the automation JSON that scripts and Prefect read is unchanged.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web

from ..errors import InvalidInput, InvalidJson, NotFound
from ..server.api import daemon_of, json_response
from . import persist
from .component import ENGINE, Change, EngineComponent
from .emitted import lifecycle_event
from .explain import near_misses
from .files import FileError, parse_sourced, parse_text
from .model import Automation, definition_key, parse_automation, same_definition
from .view import EngineView

RECENT_FIRINGS = 20


# The request helpers below are shared by every `/automations/...` module (explain_api too).
def engine_component(request: web.Request) -> EngineComponent:
    return request.app[ENGINE]


async def json_body(request: web.Request, default: Any = None) -> Any:
    """The request's JSON body; an empty one is `default`, or InvalidInput when there is none."""
    body = await request.read()
    if not body.strip():
        if default is None:
            raise InvalidInput([("$", "a JSON body is required")])
        return default
    try:
        return json.loads(body)
    except ValueError as exc:
        raise InvalidJson([("$", f"body is not valid JSON: {exc}")]) from None


def lookup_automation(request: web.Request) -> Automation:
    """The automation the path's `{id}` names, or NotFound."""
    automation = engine_component(request).automation(request.match_info["id"])
    if automation is None:
        raise NotFound("no automation with that id")
    return automation


def _name_taken(component: EngineComponent, name: str, own_id: str | None) -> None:
    other = component.by_name(name)
    if other is not None and other.id != own_id:
        message = (f"an automation named {name!r} already exists (id {other.id}); replace it "
                   f"with PUT /automations/{other.id} or `tocsin automation apply`")
        raise InvalidInput([("name", message)])


def _is_text(body: Any) -> bool:
    return isinstance(body, dict) and set(body) == {"yaml"}


def _item(body: Any) -> tuple[Automation, str | None]:
    """The automation in a body (an automation object, or `{"yaml": TEXT}` holding one), and
    its source when given as text."""
    if not _is_text(body):
        return parse_automation(body), None
    text = str(body["yaml"])
    found = parse_sourced(text)
    if len(found) != 1:
        raise InvalidInput([("yaml", f"holds {len(found)} automations; send one at a time "
                                     "(`tocsin automation apply -f FILE` does)")])
    return found[0][0], text


async def _definition(request: web.Request) -> tuple[Automation, str | None]:
    """The automation in a create/replace body, and its source when given as text."""
    return _item(await json_body(request))


async def create(request: web.Request) -> web.Response:
    component = engine_component(request)
    automation, source = await _definition(request)
    _name_taken(component, automation.name, None)
    now = datetime.now(UTC)
    automation.id, automation.created, automation.updated = str(uuid.uuid4()), now, now
    await component.save(automation, lifecycle_event(automation, "created"), source=source)
    return json_response(automation, status=201)


async def apply(request: web.Request) -> web.Response:
    """Create or update many automations by name in one transaction (`automation apply`):
    all or nothing, and one commit rather than one per automation (10,000 in seconds).

    Each item is an automation object or `{"yaml": TEXT}` (one automation, whose text is kept
    as its source; an object drops a changed automation's kept text). An unchanged automation
    is left alone, its windows kept; only a text it came with is stored. Answers
    `[{"name", "id", "result": "created"|"updated"|"unchanged"}]` in order."""
    component = engine_component(request)
    body = await json_body(request)
    if not isinstance(body, list):
        raise InvalidInput([("$", 'a JSON list of automations (objects or {"yaml": TEXT}) '
                                  "is required")])
    parsed: list[tuple[Automation, str | None]] = []
    errors: list[tuple[str, str]] = []
    lines: list[int | None] = []
    for i, item in enumerate(body):
        try:
            parsed.append(_item(item))
        except InvalidInput as exc:
            at = exc.lines if isinstance(exc, FileError) else [None] * len(exc.errors)
            errors.extend((f"[{i}]" + (f".{p}" if p else ""), m) for p, m in exc.errors)
            lines.extend(at)
    seen: set[str] = set()
    for i, (automation, _) in enumerate(parsed):
        if automation.name in seen:
            errors.append((f"[{i}].name", f"{automation.name!r} appears more than once"))
            lines.append(None)
        seen.add(automation.name)
    if errors:
        raise FileError(errors, lines)
    existing = {a.name: a for a in component.all_automations()}
    now = datetime.now(UTC)
    changes: list[Change] = []
    results = []
    for automation, source in parsed:
        old = existing.get(automation.name)
        if old is not None and definition_key(old.to_dict()) == definition_key(
                automation.to_dict()):
            if source is not None:
                changes.append(Change(old, None, source))
            results.append({"name": old.name, "id": old.id, "result": "unchanged"})
            continue
        automation.id = old.id if old else str(uuid.uuid4())
        automation.created, automation.updated = (old.created if old else now), now
        what = "updated" if old else "created"
        changes.append(Change(automation, lifecycle_event(automation, what), source,
                              replace=old is not None))
        results.append({"name": automation.name, "id": automation.id, "result": what})
    await component.save_all(changes)
    return json_response(results)


async def list_automations(request: web.Request) -> web.Response:
    body = await json_body(request, default={})
    limit = body.get("limit") if isinstance(body, dict) else None
    offset = int(body.get("offset") or 0) if isinstance(body, dict) else 0
    found = engine_component(request).all_automations()
    found = found[offset:offset + limit] if limit else found[offset:]
    return json_response(found)


async def read(request: web.Request) -> web.Response:
    return json_response(lookup_automation(request))


async def read_by_name(request: web.Request) -> web.Response:
    automation = engine_component(request).by_name(request.match_info["name"])
    if automation is None:
        raise NotFound("no automation with that name")
    return json_response(automation)


async def replace(request: web.Request) -> web.Response:
    component = engine_component(request)
    old = lookup_automation(request)
    automation, source = await _definition(request)
    _name_taken(component, automation.name, old.id)
    automation.id, automation.created = old.id, old.created
    automation.updated = datetime.now(UTC)
    await component.save(automation, lifecycle_event(automation, "updated"), source=source,
                         replace=True)
    return json_response(automation)


async def read_source(request: web.Request) -> web.Response:
    """`{"id", "source"}`: the text the automation was last written in, or null."""
    automation = lookup_automation(request)
    rows = await daemon_of(request).store.read_sql(
        "SELECT source FROM automation_sources WHERE automation_id = ?", (automation.id,))
    return json_response({"id": automation.id, "source": rows[0][0] if rows else None})


async def keep_source(request: web.Request) -> web.Response:
    """Keep `{"yaml": TEXT}` as the source of the automation it defines exactly, without
    replacing it (so its windows go on), for a client that keeps one automation's text;
    `apply` does the same for many inside its one transaction."""
    component = engine_component(request)
    automation = lookup_automation(request)
    body = await json_body(request)
    if not _is_text(body):
        raise InvalidInput([("$", 'the body is {"yaml": TEXT}')])
    found = parse_sourced(str(body["yaml"]))
    if len(found) != 1 or not same_definition(found[0][0], automation):
        raise InvalidInput([("yaml", "this text does not define the stored automation as it "
                                     "is; replace the automation with it instead")])
    await component.daemon.store.run(  # type: ignore[union-attr]
        persist.source_statements([(automation.id or "", str(body["yaml"]))]))
    return web.Response(status=204)


async def patch(request: web.Request) -> web.Response:
    component = engine_component(request)
    automation = lookup_automation(request)
    body = await json_body(request)
    if not isinstance(body, dict) or set(body) != {"enabled"} \
            or not isinstance(body["enabled"], bool):
        raise InvalidInput([("enabled", "PATCH takes exactly {\"enabled\": true|false}")])
    automation.updated = datetime.now(UTC)
    await component.set_enabled(automation, body["enabled"],
                                lifecycle_event(automation, "updated"))
    return web.Response(status=204)


async def delete(request: web.Request) -> web.Response:
    component = engine_component(request)
    automation = lookup_automation(request)
    await component.delete(automation, lifecycle_event(automation, "deleted"))
    return web.Response(status=204)


async def validate(request: web.Request) -> web.Response:
    """Every error in a definition (JSON object, or `{"yaml": text}` with lines)."""
    body = await json_body(request)
    try:
        if _is_text(body):
            automations = parse_text(str(body["yaml"]))
        else:
            automations = [parse_automation(body)]
    except InvalidInput as exc:  # a FileError's as_json adds each error's line
        return json_response({"valid": False, "errors": exc.as_json(), "automations": []})
    return json_response({"valid": True, "errors": [], "automations": automations})


async def state(request: web.Request) -> web.Response:
    component = engine_component(request)
    automation = lookup_automation(request)
    return json_response(await describe_state(component, automation))


async def describe_state(component: EngineComponent, automation: Automation) -> dict[str, Any]:
    engine = component.engine
    rows = await component.daemon.store.read_sql(  # type: ignore[union-attr]
        "SELECT data FROM automation_firings WHERE automation_id = ? ORDER BY at DESC LIMIT ?",
        (automation.id, RECENT_FIRINGS))
    firings = [msgspec.json.decode(data) for (data,) in rows]
    buckets = []
    for leaf, bucket in engine.windows(automation.id or ""):
        buckets.append({
            "trigger_id": bucket.trigger_id, "posture": leaf.trigger.posture,
            "labels": leaf.labels(bucket.key), "count": max(bucket.count, 0),
            "threshold": leaf.threshold,
            "window_start": persist.iso(bucket.start), "window_end": persist.iso(bucket.end),
            "deadline": persist.iso(bucket.deadline),
            "last_event": str(bucket.last_event.id) if bucket.last_event else None,
        })
    current = "waiting"
    if engine.open_firings(automation.id or ""):
        current = "triggered"
    elif firings:
        current = firings[0]["firing"]["state"]
    compiled = engine.compiled(automation.id or "")
    assert compiled is not None
    slots = [{"trigger_id": parent, "child_trigger_id": child, "at": persist.iso(slot.at)}
             for parent in compiled.composites
             for child, slot in engine.slots(parent).items()]
    return {
        "id": automation.id, "name": automation.name, "enabled": automation.enabled,
        "state": current, "idle_ttl": engine.idle_ttl, "buckets": buckets,
        "held_events": engine.held_count(automation.id or ""),
        "composite_slots": slots, "metric": _metric_state(engine, automation.id),
        "near_misses": near_misses(engine, automation.id or ""),
        "recent_firings": [
            {**f["firing"], "actions": f["actions"]} for f in firings],
    }


def _metric_state(engine: EngineView, automation_id: str | None) -> dict[str, Any] | None:
    """A metric trigger's current value and breach bookkeeping (None for other triggers)."""
    metric = engine.metric(automation_id or "")
    if metric is None:
        return None
    st = metric.state
    return {"name": metric.query.name, "value": st.value, "operator": metric.query.operator,
            "threshold": metric.query.threshold, "runs_seen": len(st.runs), "fired": st.fired,
            "breaching_since": persist.iso(st.breach_since),
            "recovering_since": persist.iso(st.ok_since),
            "next_check": persist.iso(st.next_check)}


def routes() -> list[web.RouteDef]:
    return [
        web.post("/automations/", create),
        web.post("/automations", create),
        web.post("/automations/filter", list_automations),
        web.post("/automations/apply", apply),
        web.post("/automations/validate", validate),
        web.get("/automations/name/{name}", read_by_name),
        web.get("/automations/{id}", read),
        web.put("/automations/{id}", replace),
        web.patch("/automations/{id}", patch),
        web.delete("/automations/{id}", delete),
        web.get("/automations/{id}/state", state),
        web.get("/automations/{id}/source", read_source),
        web.put("/automations/{id}/source", keep_source),
    ]
