"""`POST /automations/{id}/explain`, `POST /automations/explain` (every automation that came
close) and `GET /automations/{id}/traces` — why it fired, and why it did not."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from ..errors import InvalidInput, NotFound
from ..events.filter import EventFilter
from ..events.model import Event, event_from_dict
from ..server.api import daemon_of, json_response
from .api import engine_component, json_body, lookup_automation
from .compiled import Leaf
from .explain import came_close, criteria, explain
from .traces import traces as load_traces
from .view import EngineView

DEFAULT_TRACES = 10
MAX_TRACES = 1000


async def _event(request: web.Request) -> Event:
    """The event to explain: `{"event_id": ID}` of a stored one, or an event object."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput([("$", "send an event object or {\"event_id\": ID}")])
    if set(body) == {"event_id"}:
        event = await daemon_of(request).store.get(str(body["event_id"]))
        if event is None:
            raise NotFound(f"no stored event with id {body['event_id']} (pruned, or never "
                              "received); send the event itself instead")
        return event
    return event_from_dict(body)


async def explain_one(request: web.Request) -> web.Response:
    automation = lookup_automation(request)
    event = await _event(request)
    engine = engine_component(request).engine
    doc = explain(engine, automation.id or "", event)
    await _find_arming_events(request, engine, doc)
    return json_response(doc)


async def explain_all(request: web.Request) -> web.Response:
    """Every automation with a trigger that came close: some criterion held, or one missed
    only nearly (a name or value off by case, whitespace or one edit)."""
    event = await _event(request)
    engine = engine_component(request).engine
    out: list[dict[str, Any]] = []
    for compiled in sorted(engine.loaded(), key=lambda c: c.automation.name):
        if any(_close(leaf, event) for leaf in compiled.leaves):
            out.append(explain(engine, compiled.automation.id or "", event))
            await _find_arming_events(request, engine, out[-1])
    return json_response(out)


async def _find_arming_events(request: web.Request, engine: EngineView, doc: dict[str, Any]) -> None:
    """Name the event that armed an `after` window once something counted since (the
    engine keeps only the window's start): the stored event with an arming name, of the
    same bucket, that occurred at that start."""
    for trigger in doc["triggers"]:
        armed = trigger["armed"]
        leaf = engine.leaf(trigger["trigger_id"])
        if not armed or not armed.get("armed") or armed.get("by") or leaf is None:
            continue
        since = datetime.fromisoformat(armed["since"])
        names = [n for n in leaf.trigger.after if not n.startswith("!")]
        found, _ = await daemon_of(request).store.query(EventFilter(
            since=since, until=since, names=names if len(names) == len(leaf.trigger.after)
            else [], limit=100))
        bucket = trigger["for_each"]
        armed["by"] = next((str(e.id) for e in found if leaf.arms and leaf.arms(e.event)
                            and leaf.labels(leaf.key(e)) == bucket), None)


def _close(leaf: Leaf, event: Event) -> bool:
    return came_close(leaf, criteria(leaf, event))


async def traces(request: web.Request) -> web.Response:
    automation = lookup_automation(request)
    try:
        limit = int(request.query.get("limit", DEFAULT_TRACES))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_TRACES:
        raise InvalidInput([("limit", f"a whole number from 1 to {MAX_TRACES}")])
    return json_response(await load_traces(engine_component(request), automation, limit))


def routes() -> list[web.RouteDef]:
    return [
        web.post("/automations/explain", explain_all),
        web.post("/automations/{id}/explain", explain_one),
        web.get("/automations/{id}/traces", traces),
    ]
