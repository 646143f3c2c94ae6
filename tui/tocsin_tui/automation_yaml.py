"""Automations as the YAML a person edits, and finding the action (and its template) at a line.

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


def to_yaml(automation: dict[str, Any]) -> str:
    """An automation as stored, written back as the YAML one would apply."""
    data = {k: v for k, v in automation.items() if k not in SERVER_FIELDS and v is not None}
    if "trigger" in data:
        data["trigger"] = _strip_ids(data["trigger"])
    for key in ("tags", *ACTION_LISTS[1:]):
        if data.get(key) == []:
            data.pop(key)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88)


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


def parse_one(text: str) -> dict[str, Any]:
    """The editor's text as one automation object (the daemon validates its content)."""
    data = yaml.safe_load(text)
    if isinstance(data, dict) and "automations" in data and "trigger" not in data:
        data = data["automations"]
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        raise ValueError("the editor holds one automation: a YAML mapping with name, "
                         "trigger and actions")
    return data
