"""Socket routes of the actions part: blocks, the template preview and the outbox."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from ..errors import InvalidInput, InvalidTemplate, NotFound
from ..events.model import Event
from ..server.api import daemon_of, decode_body, json_response
from ..templates import TemplateError, off_loop, render, validate_template
from .blocks import BlockCreate, BlockStore
from .context import load_objects, template_context


class RenderRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    template: str
    event_id: str | None = None
    event: Event | None = None


def _blocks(request: web.Request) -> BlockStore:
    return daemon_of(request).component("actions").blocks  # type: ignore[union-attr]


async def list_blocks(request: web.Request) -> web.Response:
    return json_response([b.masked() for b in _blocks(request).list()])


async def create_block(request: web.Request) -> web.Response:
    data = decode_body(await request.read(), BlockCreate)
    block = await _blocks(request).create(daemon_of(request).store, data)
    return json_response(block.masked(), status=201)


async def get_block(request: web.Request) -> web.Response:
    block = _blocks(request).get(name=request.match_info["name"])
    if block is None:
        raise NotFound("no block with that name")
    return json_response(block.masked())


async def delete_block(request: web.Request) -> web.Response:
    if not await _blocks(request).delete(daemon_of(request).store, request.match_info["name"]):
        raise NotFound("no block with that name")
    return web.Response(status=204)


async def render_template(request: web.Request) -> web.Response:
    """`{"template", "event_id" | "event"}` -> `{"output"}`, or 422 with the message and line,
    exactly as an action would render it with that event as its triggering event (`flow_run`,
    `deployment`... loaded the same way). Rendered on a worker thread, as actions are, so a
    slow template never holds up the daemon's other requests."""
    req = decode_body(await request.read(), RenderRequest)
    event = req.event
    if req.event_id is not None:
        event = await daemon_of(request).store.get(req.event_id)
        if event is None:
            raise InvalidInput([("event_id", f"no stored event has id {req.event_id}")])
    context = template_context(None, None, event)
    await load_objects(context, daemon_of(request), event, [req.template])
    try:
        output = await off_loop(_checked_render, req.template, context)
    except TemplateError as exc:
        raise InvalidTemplate(exc.message, exc.lineno) from None
    return json_response({"output": output})


def _checked_render(template: str, context: dict[str, Any]) -> str:
    """What an automation would refuse when saved, then the render itself."""
    validate_template(template)
    return render(template, context)


async def list_actions(request: web.Request) -> web.Response:
    """Queued and recent actions, newest first: `?status=pending|done|failed&limit=N`."""
    status = request.query.get("status")
    if status not in (None, "", "pending", "done", "failed"):
        raise InvalidInput([("status", "must be pending, done or failed")])
    try:
        limit = min(int(request.query.get("limit", "100")), 10_000)
    except ValueError:
        raise InvalidInput([("limit", "must be a number")]) from None
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    rows = await daemon_of(request).store.read_sql(
        "SELECT firing_id, action_index, automation_id, action_type, status, attempts, "
        f"next_at, created, updated, last_error FROM action_outbox {where} "
        "ORDER BY created DESC, action_index LIMIT ?", [*params, limit])
    keys = ("firing_id", "action_index", "automation_id", "type", "status", "attempts",
            "next_at", "created", "updated", "last_error")
    out: list[dict[str, Any]] = [dict(zip(keys, row)) for row in rows]
    return json_response(out)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/blocks", list_blocks),
        web.post("/blocks", create_block),
        web.get("/blocks/{name}", get_block),
        web.delete("/blocks/{name}", delete_block),
        web.post("/templates/render", render_template),
        web.get("/actions", list_actions),
    ]
