"""Rendering an action: its template fields, its run-deployment parameters (§10) and its
targets. Pure — the worker and `tocsin replay` (through `preview`) run the same code, so a
preview shows exactly what the action would send."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from ..events.model import Event
from ..firing import Firing
from ..templates import TemplateError, is_template, render
from .blocks import mask_url
from .context import event_of, labels_of, template_context
from .model import Action, BlockAction, CallWebhook, RunDeployment
from .targets import ActionFailed, resolve_targets

__all__ = ["action_plan", "preview", "preview_firing", "render_fields", "template_context"]

_SINGLE_EXPRESSION = re.compile(r"^\{\{(?:(?!\{\{|\}\}).)*\}\}$", re.DOTALL)


def action_plan(automation: Any, firing: Firing,
                state_change_event: Event | None) -> list[tuple[int, Action, Event | None]]:
    """(index, action, its triggering event) in Prefect's order (§7 step 2): `actions` with
    the firing's event, then `actions_on_trigger` (or `actions_on_resolve`) with the
    automation's own state-change event."""
    plan: list[tuple[int, Action, Event | None]] = []
    for action in getattr(automation, "actions", None) or []:
        plan.append((len(plan), action, firing.triggering_event))
    extra = "actions_on_trigger" if firing.state == "triggered" else "actions_on_resolve"
    for action in getattr(automation, extra, None) or []:
        plan.append((len(plan), action, state_change_event))
    return plan


def render_fields(action: Action, context: dict[str, Any]) -> dict[str, Any]:
    """The action's rendered template fields (and a run-deployment's parameters and job
    variables); raises ActionFailed with
    `template_error` and `template_source` when a template fails."""
    out: dict[str, Any] = {}
    for name in action.template_fields:
        source = getattr(action, name)
        try:
            out[name] = render(source, context)
        except TemplateError as exc:
            raise ActionFailed(f"Template rendering failed in '{name}': {exc}",
                               template_error=str(exc), template_source=source) from None
    if isinstance(action, RunDeployment):
        # Prefect's order: parameters then job variables, both hydrated the same way; a null
        # renders as {} (the deployment's defaults then apply)
        for name in ("parameters", "job_variables"):
            try:
                out[name] = render_parameters(getattr(action, name), context)
            except (TemplateError, ParameterError) as exc:
                raise ActionFailed(f"Unable to create flow run from deployment: {exc}",
                                   template_error=str(exc)) from None
    return out


def preview(action: Action, context: dict[str, Any]) -> dict[str, Any]:
    """What `tocsin replay` prints for one action: its type, rendered fields and resolved
    targets under Prefect's field names, or `error` with the reason running it would fail.
    `context` is what `template_context` returns."""
    out: dict[str, Any] = {"type": action.type, **_named_target(action)}
    try:
        out.update(resolve_targets(action, event_of(context), labels_of(context)))
        out.update(render_fields(action, context))
    except ActionFailed as exc:
        out["error"] = exc.reason
    return out


def _named_target(action: Action) -> dict[str, Any]:
    """The block (or inline webhook url, secrets masked) a notification or webhook names."""
    if not isinstance(action, BlockAction):
        return {}
    if isinstance(action, CallWebhook) and action.url:
        return {"url": mask_url(action.url)}
    return {k: getattr(action, k) for k in ("block_document_id", "block") if getattr(action, k)}


def preview_firing(automation: Any, firing: Firing,
                   state_change_event: Event | None) -> list[dict[str, Any]]:
    """Every action of one firing, previewed, in Prefect's order."""
    return [preview(action, template_context(automation, firing, event))
            for _, action, event in action_plan(automation, firing, state_change_event)]


# -- run-deployment parameters (§10) -----------------------------------------------------

class ParameterError(Exception):
    """A parameter that cannot be hydrated (invalid JSON, an unknown variable)."""


_REMOVE = object()


def render_parameters(parameters: dict[str, Any] | None, context: dict[str, Any]) -> dict[str, Any]:
    """Upgrade plain Jinja strings (v1), then hydrate `__prefect_kind` objects (§10); used for
    job variables too."""
    upgraded = _upgrade(copy.deepcopy(parameters or {}))
    hydrated = _hydrate(upgraded, context)
    return hydrated if isinstance(hydrated, dict) else {}


def _upgrade(value: Any) -> Any:
    """A string that is one `{{ expr }}` keeps its JSON type; any other Jinja string renders
    to a string. Dicts that already say their `__prefect_kind` are left as they are."""
    if isinstance(value, dict):
        if "__prefect_kind" in value:
            return value
        return {k: _upgrade(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_upgrade(v) for v in value]
    if isinstance(value, str) and is_template(value):
        text = value.strip()
        if _SINGLE_EXPRESSION.match(text):
            expr = text[2:-2].strip()
            return {"__prefect_kind": "json",
                    "value": {"__prefect_kind": "jinja", "template": f"{{{{ {expr} | tojson }}}}"}}
        return {"__prefect_kind": "jinja", "template": value}
    return value


def _hydrate(value: Any, context: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [v for v in (_hydrate(x, context) for x in value) if v is not _REMOVE]
    if not isinstance(value, dict):
        return value
    kind = value.get("__prefect_kind")
    if kind is None:
        out = {k: _hydrate(v, context) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _REMOVE}
    if kind == "jinja":
        return render(str(value.get("template", "")), context)
    if kind == "json":
        if "value" not in value:
            return _REMOVE
        inner = _hydrate(value["value"], context)
        if isinstance(inner, str):
            try:
                return json.loads(inner)
            except json.JSONDecodeError as exc:
                raise ParameterError(f"Invalid JSON: {exc}") from None
        return inner
    if kind == "workspace_variable":
        if "variable_name" not in value:
            return _REMOVE
        raise ParameterError(f"tocsin has no workspace variables (asked for "
                             f"{value['variable_name']!r})")
    return value.get("value")
