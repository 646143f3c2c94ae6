"""The JSON Schema of an automation file, for editors (`tocsin automation schema`).

Written by msgspec from the same structs `parse_automation` fills, then loosened where the
parser takes more than the stored shape: a trigger's `type` may be left out (it is inferred),
durations may be ISO 8601 text, and a file may hold one automation, a list, or an
`automations:` list. The parser stays the judge; the schema is a guide for completion.
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec

from .model import Automation

DURATION_FIELDS = ("within", "range", "firing_for")
DURATION = {"anyOf": [{"type": "number", "minimum": 0},
                      {"type": "string", "description": "an ISO 8601 duration such as PT10M"}]}


def automation_schema() -> dict[str, Any]:
    from ..actions.model import ACTION_TYPES  # imports jinja2, as parsing actions does

    actions_type = list[typing.Union[ACTION_TYPES]]  # noqa: UP007 (a runtime tuple of types)
    (one, actions), defs = msgspec.json.schema_components(
        [Automation, actions_type], ref_template="#/$defs/{name}")
    properties = defs["Automation"]["properties"]
    for key in ("actions", "actions_on_trigger", "actions_on_resolve"):
        properties[key] = {**actions, **({"default": []} if key != "actions" else {})}
    for definition in defs.values():
        for key in DURATION_FIELDS:
            if key in definition.get("properties", {}):
                default = definition["properties"][key].get("default")
                definition["properties"][key] = {**DURATION, "default": default}
    for name in ("Automation", "EventTrigger", "CompoundTrigger", "SequenceTrigger",
                 "MetricTrigger", "MetricQuery"):
        defs[name]["additionalProperties"] = False  # the parser refuses unknown keys too
    trigger = defs["EventTrigger"]
    trigger["required"] = [r for r in trigger.get("required", []) if r != "type"]
    if not trigger["required"]:
        del trigger["required"]
    several = {"type": "array", "items": one}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "tocsin automations",
        "anyOf": [one, several, {"type": "object", "properties": {"automations": several},
                                 "required": ["automations"]}],
        "$defs": defs,
    }
