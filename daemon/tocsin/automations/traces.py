"""Traces: one document per firing or resolution — what counted, where in the trigger tree,
the state change, then each action with its rendered fields, target and every attempt.

Nothing new is stored for them. A trace is put together from what the daemon keeps anyway,
so it is pruned with the events' retention: the firing record (`automation_firings`), the
events that counted (from the store, picked by the trigger's own compiled predicates within
the firing's window), and the action events every attempt leaves
(`prefect.automation.action.triggered` / `.executed` / `.failed`, related to the state-change
event). `tocsin replay --explain` builds the same document on virtual time, with each action
as it would run instead of its attempts.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from ..events.filter import EventFilter
from ..events.model import Event
from ..firing import Firing
from .compiled import Leaf
from .explain import trigger_paths
from .model import Automation
from .persist import iso

ACTION_EVENTS = "prefect.automation.action.*"
MAX_COUNTED = 100


def counted(leaf: Leaf | None, firing: Firing, events: Iterable[Event]) -> list[Event]:
    """The events that counted toward a leaf firing: expected, matching, of the firing's
    bucket and window — the trigger's own predicates (`expects`, `covers`, `key`) decide.
    A reactive trigger counted those up to its triggering event; the latest `threshold`."""
    trigger_event = firing.triggering_event
    if leaf is None or firing.window is None:
        return [trigger_event] if trigger_event is not None else []
    start, end = firing.window
    if leaf.within == 0:
        end = float("inf")  # `within: 0` has no time limit: its window's end means nothing
    last = trigger_event.occurred.timestamp() if trigger_event and leaf.reactive else end
    found = [e for e in events
             if leaf.expects(e.event) and start <= e.occurred.timestamp() < end
             and e.occurred.timestamp() <= last and leaf.covers(e)
             and leaf.labels(leaf.key(e)) == firing.triggering_labels]
    found.sort(key=lambda e: e.occurred)
    if leaf.reactive:
        found = found[-max(leaf.threshold, 1):]
    return found[-MAX_COUNTED:]


def event_brief(event: Event) -> dict[str, Any]:
    return {"id": str(event.id), "event": event.event, "occurred": event.occurred.isoformat(),
            "resource": event.resource.get("prefect.resource.id")}


def trigger_part(firing: Firing, path: str, events: list[Event]) -> dict[str, Any]:
    """One firing of the tree: where it sits, its bucket, its window, what counted."""
    window = None
    if firing.window is not None:
        window = {"start": iso(firing.window[0]), "end": iso(firing.window[1])}
    return {"path": path, "trigger_id": firing.trigger_id, "state": firing.state,
            "at": firing.at.isoformat(), "bucket": firing.triggering_labels, "window": window,
            "events": [event_brief(e) for e in events],
            "triggering_value": firing.triggering_value}


def trace_document(automation: Automation, firing: Firing, state_event_id: str | None,
                   parts: list[dict[str, Any]], actions: list[dict[str, Any]]) -> dict[str, Any]:
    previous = "triggered" if firing.state == "resolved" else "waiting"
    return {"firing_id": firing.id, "automation": automation.name,
            "automation_id": automation.id, "state": firing.state, "at": firing.at.isoformat(),
            "triggering_event": (str(firing.triggering_event.id)
                                 if firing.triggering_event else None),
            "triggering_labels": firing.triggering_labels,
            "trigger": parts,
            "state_change": {"from": previous, "to": firing.state, "event_id": state_event_id},
            "actions": actions}


def trigger_parts(automation: Automation, firing: Firing, leaves: dict[str, Leaf],
                  events: list[Event]) -> list[dict[str, Any]]:
    """Each firing of the tree (root first), with the events that counted for leaves."""
    paths = trigger_paths(automation.trigger)
    return [trigger_part(part, paths.get(part.trigger_id, "?"),
                         counted(leaves.get(part.trigger_id), part, events)
                         if not part.triggering_firings else [])
            for part in firing.all_firings()]


def attempts_by_action(action_events: list[Event]) -> dict[int, dict[str, Any]]:
    """action index -> its target, rendered fields and attempts, from its events."""
    out: dict[int, dict[str, Any]] = {}
    for event in sorted(action_events, key=lambda e: e.occurred):
        payload = event.payload
        entry = out.setdefault(int(payload.get("action_index", -1)),
                               {"target": [], "rendered": None, "attempts": []})
        targets = [r["prefect.resource.id"] for r in event.related
                   if r.get("prefect.resource.role") == "target"]
        if targets:
            entry["target"] = targets
        if event.event.endswith(".triggered"):
            continue
        if payload.get("rendered") is not None:
            entry["rendered"] = payload["rendered"]
        ok = event.event.endswith(".executed")
        details = {k: v for k, v in payload.items() if k not in (
            "action_index", "action_type", "invocation", "attempt", "reason", "rendered")}
        entry["attempts"].append({"attempt": payload.get("attempt"),
                                  "at": event.occurred.isoformat(),
                                  "result": "executed" if ok else "failed",
                                  "error": payload.get("reason"), **details})
    return out


def action_entries(planned: list[dict[str, Any]],
                   attempts: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for index, action in enumerate(planned):
        seen = attempts.get(index, {"target": [], "rendered": None, "attempts": []})
        status = "pending"
        if seen["attempts"]:
            status = seen["attempts"][-1]["result"]
        out.append({"index": index, "type": action.get("type"), "action": action,
                    "status": status, **seen})
    return out


async def traces(component: Any, automation: Automation, limit: int) -> list[dict[str, Any]]:
    """The last `limit` traces of an automation, newest first, from the daemon's store."""
    store = component.daemon.store
    rows = await store.read_sql(
        "SELECT event_id, data FROM automation_firings WHERE automation_id = ? "
        "ORDER BY at DESC LIMIT ?", (automation.id, limit))
    leaves = component.engine.leaves(automation.id or "")
    out = []
    for state_event_id, data in rows:
        record = msgspec.json.decode(data)
        firing = msgspec.convert(record["firing"], Firing)
        events = await _window_events(store, firing, leaves)
        action_events, _ = await store.query(EventFilter(
            names=[ACTION_EVENTS], order="oldest", limit=1000,
            since=firing.at - timedelta(seconds=1),
            resource={"prefect.resource.id": f"prefect.automation.{automation.id}"},
            related={"prefect.resource.id": f"prefect.event.{state_event_id}",
                     "prefect.resource.role": "automation-triggered-event"}))
        actions = action_entries(record.get("actions") or [], attempts_by_action(action_events))
        out.append(trace_document(automation, firing, state_event_id,
                                  trigger_parts(automation, firing, leaves, events), actions))
    return out


async def _window_events(store: Any, firing: Firing, leaves: dict[str, Leaf]) -> list[Event]:
    """Stored events that may have counted: in each leaf firing's window, with its names."""
    found: list[Event] = []
    for part in firing.all_firings():
        leaf = leaves.get(part.trigger_id)
        if part.window is None or leaf is None:
            continue
        names = leaf.trigger.expect
        events, _ = await store.query(EventFilter(
            since=datetime.fromtimestamp(part.window[0], UTC),
            until=datetime.fromtimestamp(part.window[1], UTC), order="newest",
            names=names if not any(n.startswith("!") for n in names) else [],
            limit=min(10_000, max(leaf.threshold, 1) * 20)))
        found.extend(events)
    return found
