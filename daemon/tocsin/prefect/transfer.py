"""Automations between tocsin and a Prefect server (`tocsin automation push --to URL` and
`pull --from URL`): both sides speak the same JSON, so moving one is mostly renaming what
points at a block, and refusing — with the reason — what the other side cannot hold.

Blocks are matched by name: tocsin's `block: NAME` (or its own block id) becomes the id of
Prefect's block document of that name, and back. Names are how both sides identify
automations too; a name held by several automations on Prefect is reported, never merged.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

#: What tocsin assigns itself; never sent.
ASSIGNED = ("id", "created", "updated")
#: Actions that, with `source: selected`, name a target by an id only one side knows.
LOCAL_TARGETS = {
    "run-deployment": "deployment_id", "pause-deployment": "deployment_id",
    "resume-deployment": "deployment_id", "pause-work-pool": "work_pool_id",
    "resume-work-pool": "work_pool_id", "pause-work-queue": "work_queue_id",
    "resume-work-queue": "work_queue_id", "pause-automation": "automation_id",
    "resume-automation": "automation_id",
}
BLOCK_ACTIONS = ("send-notification", "call-webhook")


class Refused(Exception):
    """This automation cannot go to the other side; the message says why."""


def is_cloud(url: str) -> bool:
    return "api.prefect.cloud" in url


def all_actions(automation: dict[str, Any]) -> list[dict[str, Any]]:
    return [*automation.get("actions", []), *automation.get("actions_on_trigger", []),
            *automation.get("actions_on_resolve", [])]


def _trigger_types(trigger: dict[str, Any]) -> set[str]:
    found = {trigger.get("type", "event")}
    for child in trigger.get("triggers", []):
        found |= _trigger_types(child)
    return found


def duplicated(names: list[str]) -> set[str]:
    return {name for name, n in Counter(names).items() if n > 1}


def for_prefect(automation: dict[str, Any], prefect_blocks: dict[str, str],
                local_blocks: dict[str, str], cloud: bool) -> dict[str, Any]:
    """The automation as Prefect should store it. `prefect_blocks`: block document name to
    id on Prefect; `local_blocks`: tocsin block id to name. Raises Refused."""
    out = {k: v for k, v in copy.deepcopy(automation).items() if k not in ASSIGNED}
    if "metric" in _trigger_types(out["trigger"]) and not cloud:
        raise Refused("it uses a metric trigger, which Prefect serves only in Prefect Cloud "
                      "(an open-source Prefect server refuses it)")
    for action in all_actions(out):
        kind = action.get("type")
        field = LOCAL_TARGETS.get(kind or "")
        if field and action.get("source", "selected") == "selected":
            raise Refused(f"its {kind} action names {field} {action.get(field)!r}, an id of "
                          "tocsin's own; Prefect's objects have other ids (use source: "
                          "inferred, or set the action up on Prefect)")
        if kind in BLOCK_ACTIONS:
            action["block_document_id"] = _prefect_block(action, prefect_blocks, local_blocks)
            for key in ("block", "url", "method", "headers"):
                action.pop(key, None)
    return out


def _prefect_block(action: dict[str, Any], prefect_blocks: dict[str, str],
                   local_blocks: dict[str, str]) -> str:
    if action.get("url"):
        raise Refused(f"its {action['type']} action calls an inline url; Prefect calls "
                      "webhooks only through a block: make a webhook block (here and on "
                      "Prefect, same name) and name it with `block:`")
    name = action.get("block") or local_blocks.get(action.get("block_document_id") or "")
    if name is None:
        raise Refused(f"its {action['type']} action names block id "
                      f"{action.get('block_document_id')!r}, which is no tocsin block")
    if name not in prefect_blocks:
        raise Refused(f"block {name!r} has no block document of that name on the Prefect "
                      "server; create it there first (blocks are matched by name)")
    return prefect_blocks[name]


def for_tocsin(automation: dict[str, Any], prefect_block_names: dict[str, str],
               local_block_names: set[str]) -> dict[str, Any]:
    """A Prefect automation as tocsin should store it. `prefect_block_names`: block
    document id to name on Prefect. Raises Refused."""
    out = {k: v for k, v in copy.deepcopy(automation).items() if k not in ASSIGNED}
    for action in all_actions(out):
        if action.get("type") not in BLOCK_ACTIONS or not action.get("block_document_id"):
            continue
        doc = str(action.pop("block_document_id"))
        name = prefect_block_names.get(doc)
        if name is None:
            raise Refused(f"its {action['type']} action names block document {doc}, which "
                          "has no name on Prefect (anonymous or deleted)")
        if name not in local_block_names:
            raise Refused(f"it needs a block named {name!r}; create it here first with "
                          f"`tocsin block create {name} ...` (blocks are matched by name)")
        action["block"] = name
    return out
