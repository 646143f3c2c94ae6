"""`POST /automations/{id}/explain`, `POST /automations/explain` (every automation that came
close) and `GET /automations/{id}/traces` — why it fired, and why it did not."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..errors import InvalidInput
from ..events.model import Event, event_from_dict
from ..server.api import daemon_of, json_response
from .api import _component, _json_body, _lookup, _not_found
from .compiled import Leaf
from .explain import came_close, criteria, explain
from .traces import traces as load_traces

DEFAULT_TRACES = 10
MAX_TRACES = 1000


async def _event(request: web.Request) -> Event:
    """The event to explain: `{"event_id": ID}` of a stored one, or an event object."""
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise InvalidInput([("$", "send an event object or {\"event_id\": ID}")])
    if set(body) == {"event_id"}:
        event = await daemon_of(request).store.get(str(body["event_id"]))
        if event is None:
            raise LookupError(f"no stored event with id {body['event_id']} (pruned, or never "
                              "received); send the event itself instead")
        return event
    return event_from_dict(body)


async def explain_one(request: web.Request) -> web.Response:
    automation = _lookup(request)
    if automation is None:
        return _not_found("that id")
    try:
        event = await _event(request)
    except LookupError as exc:
        return json_response({"detail": str(exc)}, status=404)
    return json_response(explain(_component(request).engine, automation.id or "", event))


async def explain_all(request: web.Request) -> web.Response:
    """Every automation with a trigger that came close: some criterion held, or one missed
    only nearly (a name or value off by case, whitespace or one edit)."""
    try:
        event = await _event(request)
    except LookupError as exc:
        return json_response({"detail": str(exc)}, status=404)
    engine = _component(request).engine
    out: list[dict[str, Any]] = []
    for aid, compiled in sorted(engine.automations.items(),
                                key=lambda item: item[1].automation.name):
        if any(_close(leaf, event) for leaf in compiled.leaves):
            out.append(explain(engine, aid, event))
    return json_response(out)


def _close(leaf: Leaf, event: Event) -> bool:
    return came_close(leaf, criteria(leaf, event))


async def traces(request: web.Request) -> web.Response:
    automation = _lookup(request)
    if automation is None:
        return _not_found("that id")
    try:
        limit = int(request.query.get("limit", DEFAULT_TRACES))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_TRACES:
        raise InvalidInput([("limit", f"a whole number from 1 to {MAX_TRACES}")])
    return json_response(await load_traces(_component(request), automation, limit))


def routes() -> list[web.RouteDef]:
    return [
        web.post("/automations/explain", explain_all),
        web.post("/automations/{id}/explain", explain_one),
        web.get("/automations/{id}/traces", traces),
    ]
