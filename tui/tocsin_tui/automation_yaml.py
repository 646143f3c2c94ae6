"""Automations as the YAML a person edits: writing a stored one out readably, finding the
action (and its template) at a line, and the references (blocks, deployments, pools, queues,
automations) an automation names, with their lines.

Pure functions over text: the editor screen uses them, and tests check them without an app.
"""

from __future__ import annotations

from typing import Any

import yaml

# Fields the daemon keeps for itself: not part of what one writes.
SERVER_FIELDS = ("id", "created", "updated")
ACTION_LISTS = ("actions", "actions_on_trigger", "actions_on_resolve")
# Action fields that are Jinja templates, in the order the preview prefers them.
TEMPLATE_FIELDS = ("body", "subject", "payload", "message")

NEW_AUTOMATION = """\
name: my-automation
description: Tell me when an order is created
enabled: true
trigger:
  type: event
  posture: Reactive
  expect:
    - order.created
  match:
    prefect.resource.id: "shop.order.*"
  threshold: 1
  within: 0
actions:
  - type: send-notification
    block: my-notifications
    subject: "Order {{ event.resource.id }}"
    body: |
      {{ event.event }} at {{ event.occurred }}
      resource: {{ event.resource.id }}
"""


def _strip_ids(trigger: Any) -> Any:
    """Trigger ids are the daemon's (they change on every save) and empty matches are the
    defaults: leave both out of the text one edits."""
    if isinstance(trigger, dict):
        return {k: _strip_ids(v) for k, v in trigger.items()
                if k != "id" and v != {} and v != []}
    if isinstance(trigger, list):
        return [_strip_ids(t) for t in trigger]
    return trigger


class _Dumper(yaml.SafeDumper):
    """Writes as a person would: multi-line text as a `|` block, whole floats as ints."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value.rstrip("\n") or value.endswith("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _float(dumper: yaml.SafeDumper, value: float) -> yaml.Node:
    if value.is_integer():
        return dumper.represent_int(int(value))
    return dumper.represent_float(value)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(float, _float)


def to_yaml(automation: dict[str, Any]) -> str:
    """An automation as stored, written back as the YAML one would apply (used when the
    daemon keeps no text for it: made from JSON, or by an older daemon)."""
    data = {k: v for k, v in automation.items() if k not in SERVER_FIELDS and v is not None}
    if "trigger" in data:
        data["trigger"] = _strip_ids(data["trigger"])
    for key in ("tags", *ACTION_LISTS[1:]):
        if data.get(key) == []:
            data.pop(key)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=88)


# Action fields that name another object -> (what it is, the catalogue that lists them).
REFERENCES = {
    "block": ("block", "block names"),
    "block_document_id": ("block", "block ids"),
    "deployment_id": ("deployment", "deployment ids"),
    "work_pool_id": ("work pool", "work pool ids"),
    "work_queue_id": ("work queue", "work queue ids"),
    "automation_id": ("automation", "automation ids"),
}


def missing_references(text: str, known: dict[str, set[str]]) -> list[dict[str, Any]]:
    """Warnings (line, loc, msg) for each action naming a block, deployment, pool, queue or
    automation that `known` (catalogue -> names or ids) does not hold.

    Warnings, not errors: the automation is valid and may be saved; the action would fail
    when it runs unless the thing is made first. Templated values are not checked.
    """
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    out = []
    for key_node, list_node in root.value:
        if key_node.value not in ACTION_LISTS or not isinstance(list_node, yaml.SequenceNode):
            continue
        for i, action in enumerate(list_node.value):
            if not isinstance(action, yaml.MappingNode):
                continue
            for field_node, value_node in action.value:
                ref = REFERENCES.get(field_node.value)
                value = value_node.value if isinstance(value_node, yaml.ScalarNode) else None
                if ref is None or not value or "{{" in value or value == "null":
                    continue
                kind, catalogue = ref
                if catalogue in known and value not in known[catalogue]:
                    how = "named" if field_node.value == "block" else "with id"
                    out.append({"line": value_node.start_mark.line + 1,
                                "loc": f"{key_node.value}[{i}].{field_node.value}",
                                "msg": f"no {kind} {how} {value!r} exists (yet): this action "
                                       f"will fail when it runs unless one is made"})
    return out


def action_template(action: Any) -> str | None:
    """The Jinja text of an action, if it has one (body, subject, payload, parameters)."""
    if not isinstance(action, dict):
        return None
    for field in TEMPLATE_FIELDS:
        value = action.get(field)
        if isinstance(value, str) and value.strip():
            return value
    params = action.get("parameters")
    if isinstance(params, dict) and params:
        return yaml.safe_dump(params, sort_keys=False).rstrip("\n")
    return None


def first_template(automation: dict[str, Any]) -> str | None:
    for key in ACTION_LISTS:
        for action in automation.get(key) or []:
            if (text := action_template(action)) is not None:
                return text
    return None


def template_at_line(text: str, line: int) -> str | None:
    """The template of the action written around `line` (0-based), else the first one.

    Uses the YAML node marks, so it works on exactly what is in the editor; text that does not
    parse yields None.
    """
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    fallback = None
    for key_node, value_node in root.value:
        if key_node.value not in ACTION_LISTS or not isinstance(value_node, yaml.SequenceNode):
            continue
        for item in value_node.value:
            template = action_template(yaml.safe_load(yaml.serialize(item)))
            if template is None:
                continue
            if item.start_mark.line <= line < max(item.end_mark.line, item.start_mark.line + 1):
                return template
            fallback = fallback or template
    return fallback
