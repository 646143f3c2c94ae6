"""Why an event did (or did not) make an automation fire, computed by the engine's own code.

Every verdict comes from the functions evaluation runs: the trigger's compiled name
predicates (`Leaf.expects`, `Leaf.arms`), its resource checks (`ResourceMatcher.explain`
walks the very predicates `covers` calls), its bucketing key (`Leaf.key`). The outcome is
not predicted either: the event is tried on a scratch copy of the engine holding only this
automation's state (`Engine.scratch_copy`), and the answer is what changed there —
counted, armed, held, fired, resolved. The real engine is only read (`EngineView`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..events.model import Event
from ..events.nearest import nearest
from ..firing import Firing
from .compiled import Composite, Leaf
from .engine import Engine
from .model import CompoundTrigger, SequenceTrigger, Trigger
from .persist import iso
from .state import Bucket
from .view import EngineView


def trigger_paths(trigger: Trigger, path: str = "trigger") -> dict[str, str]:
    """Trigger id -> where it sits in the tree (`trigger.triggers[1]`)."""
    paths = {trigger.id: path}
    if isinstance(trigger, (CompoundTrigger, SequenceTrigger)):
        for i, child in enumerate(trigger.triggers):
            paths.update(trigger_paths(child, f"{path}.triggers[{i}]"))
    return paths


def names_verdict(patterns: list[str], name: str, holds: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"patterns": patterns, "got": name, "ok": holds}
    near = None if holds else nearest(name, patterns)
    if near is not None:
        out["nearest"], out["differs_by"] = near
    return out


def criteria(leaf: Leaf, event: Event) -> dict[str, Any]:
    """Each criterion of one event trigger with its verdict and the values compared."""
    name = event.event
    expect = names_verdict(leaf.trigger.expect, name, leaf.expects(name))
    after = (names_verdict(leaf.trigger.after, name, leaf.arms(name))
             if leaf.arms is not None else None)
    resources = leaf.matcher.explain(event.resource, event.related)
    for label in resources["match"]:
        if not label["ok"]:
            _add_nearest(label)
    for spec in resources["match_related"]:
        for label in spec["labels"]:
            if not label["ok"]:
                _add_nearest(label)
    return {"expect": expect, "after": after, **resources,
            "for_each": leaf.labels(leaf.key(event)),
            "name_ok": expect["ok"] or bool(after and after["ok"]),
            "resource_ok": leaf.covers(event)}


def _add_nearest(label: dict[str, Any]) -> None:
    near = nearest(label["got"], label["wanted"])
    if near is not None:
        label["nearest"], label["differs_by"] = near


def came_close(leaf: Leaf, verdicts: dict[str, Any]) -> bool:
    """Passed some criterion that says something (not an empty `expect` or `match`) or
    missed one only nearly."""
    if verdicts["name_ok"] and (leaf.name_patterns is not None or verdicts["resource_ok"]):
        return True
    labels = verdicts["match"] + [lab for s in verdicts["match_related"] for lab in s["labels"]]
    if verdicts["resource_ok"] and labels:
        return True
    return "nearest" in verdicts["expect"] or any("nearest" in lab for lab in labels)


def window(leaf: Leaf, bucket: Bucket | None) -> dict[str, Any] | None:
    if bucket is None:
        return None
    return {"count": max(bucket.count, 0), "threshold": leaf.threshold,
            "start": iso(bucket.start), "end": iso(bucket.end),
            "deadline": iso(bucket.deadline) if not leaf.reactive else None,
            "last_event": str(bucket.last_event.id) if bucket.last_event else None}


def explain(engine: Engine, automation_id: str, event: Event) -> dict[str, Any]:
    """The whole explanation of `event` against one automation, as of the engine's clock:
    the event is tried as if it arrived now (its `follows` leader taken as seen)."""
    compiled = engine.compiled(automation_id)
    assert compiled is not None
    automation = compiled.automation
    paths = trigger_paths(automation.trigger)
    scratch = engine.scratch_copy(automation_id)
    firings = scratch.process(msgspec.structs.replace(event, follows=None), scratch.now)
    triggers = []
    for leaf in compiled.leaves:
        verdicts = criteria(leaf, event)
        bkey = (leaf.id, leaf.key(event))
        before, after = engine.bucket(bkey), scratch.bucket(bkey)
        fired = _leaf_fired(engine, scratch, leaf, firings)
        triggers.append({
            "trigger_id": leaf.id, "path": paths[leaf.id], "posture": leaf.trigger.posture,
            **verdicts,
            "armed": _armed(leaf, before),
            "window": window(leaf, before), "window_after": window(leaf, after),
            "outcome": _leaf_outcome(engine, scratch, leaf, event, verdicts, before, after,
                                     fired),
        })
    composites = [_composite(engine, scratch, node, paths) for node in compiled.composites.values()]
    return {
        "automation": automation.name, "automation_id": automation_id,
        "enabled": automation.enabled, "at": iso(engine.now),
        "event": {"id": str(event.id), "event": event.event, "occurred": event.occurred.isoformat(),
                  "resource": event.resource.get("prefect.resource.id")},
        "triggers": triggers, "composites": composites,
        "fired": [_firing(f) for f in firings],
        "outcome": _outcome(automation.enabled, firings, triggers),
    }


def _leaf_fired(engine: EngineView, scratch: EngineView, leaf: Leaf, firings: list[Firing]) -> bool:
    """Did the trial fire this trigger: a firing in the tree, or a fresh composite slot."""
    if any(part.trigger_id == leaf.id and part.state == "triggered"
           for f in firings for part in f.all_firings()):
        return True
    if leaf.parent is None:
        return False
    slot = scratch.slots(leaf.parent.id).get(leaf.id)
    return slot is not None and slot is not engine.slots(leaf.parent.id).get(leaf.id)


def _armed(leaf: Leaf, bucket: Bucket | None) -> dict[str, Any] | None:
    """For `after`: is a window armed for this key, since when, by which event (known while
    nothing has counted since the arming)."""
    if leaf.arms is None:
        return None
    if bucket is None:
        return {"armed": False}
    by = bucket.last_event if bucket.count <= 0 and bucket.last_event is not None else None
    return {"armed": True, "since": iso(bucket.start), "by": str(by.id) if by else None}


def _leaf_outcome(engine: EngineView, scratch: EngineView, leaf: Leaf, event: Event,
                  verdicts: dict[str, Any], before: Bucket | None, after: Bucket | None,
                  fired: bool) -> str:
    if not engine.enabled(leaf.automation_id):
        return "ignored: automation paused"
    if not verdicts["name_ok"]:
        return "ignored: the name is not expected" + (" (nor an arming event)"
                                                     if leaf.arms is not None else "")
    if not verdicts["resource_ok"]:
        failed = [lab["label"] for lab in verdicts["match"] if not lab["ok"]]
        failed += [f"related {s['role'] or i}" for i, s in enumerate(verdicts["match_related"])
                   if not s["ok"]]
        return "ignored: match failed on " + ", ".join(failed)
    bkey = (leaf.id, leaf.key(event))
    # a reactive window keeps no last event (issue 13): an id the engine has seen was counted
    if before is not None and ((before.last_event is not None
                                and before.last_event.id == event.id)
                               or engine.has_seen(event.id)):
        return "already counted in this window"
    if engine.open_firing(bkey) is not None and scratch.open_firing(bkey) is None:
        return "resolved the open proactive firing"
    if fired:
        if leaf.parent is not None:
            return _part_outcome(scratch, leaf, leaf.parent)
        return f"fired at {iso(scratch.now)}"
    if len(scratch.held(bkey)) > len(engine.held(bkey)):
        return "held: it came before any window was armed (counted once one opens)"
    if after is not None and (before is None or after.start != before.start):
        if leaf.arms is not None and leaf.arms(event.event):
            return f"armed the window until {iso(after.end)}" + _count_note(leaf, after)
        return f"opened a window until {iso(after.end)}" + _count_note(leaf, after)
    if after is not None and before is not None and after.count > before.count:
        return "counted" + _count_note(leaf, after)
    if after is None and before is None:
        if leaf.arms is not None and leaf.trigger.expect and not leaf.expects(event.event):
            return "ignored: not an arming event and no window is armed"
        return "not counted: no window is open for it"
    return "not counted: it occurred outside the window"


def _part_outcome(scratch: EngineView, leaf: Leaf, parent: Composite) -> str:
    """A child's firing, as its compound or sequence took it."""
    has = len(scratch.slots(parent.id))
    if has == 0:  # the parent fired (and emptied its slots) or needs one child only
        return f"fired its part: the {_kind(parent)} fired"
    if parent.sequence:
        step = parent.child_ids.index(leaf.id) + 1
        if step == 1:
            return f"armed the sequence (step 1 of {len(parent.child_ids)})"
        return f"fired step {step} of {len(parent.child_ids)} of the sequence"
    return f"fired its part of the compound ({has} of {parent.required} needed)"


def _count_note(leaf: Leaf, bucket: Bucket) -> str:
    count = max(bucket.count, 0)
    if leaf.reactive:
        return f" ({count} of {leaf.threshold})"
    if count >= leaf.threshold:
        return f" ({count} of {leaf.threshold} expected: nothing fires at {iso(bucket.end)})"
    return (f" ({count} of {leaf.threshold} expected; would fire at {iso(bucket.end)} "
            "unless enough come)")


def _kind(node: Composite) -> str:
    return "sequence" if node.sequence else "compound"


def _composite(engine: EngineView, scratch: EngineView, node: Composite,
               paths: dict[str, str]) -> dict[str, Any]:
    before = engine.slots(node.id)
    after = scratch.slots(node.id)
    return {"trigger_id": node.id, "path": paths[node.id], "type": _kind(node),
            "require": node.required, "of": len(node.child_ids), "within": node.within,
            "children": [paths[c] for c in node.child_ids],
            "had": [paths[c] for c in node.child_ids if c in before],
            "has": [paths[c] for c in node.child_ids if c in after]}


def _firing(firing: Firing) -> dict[str, Any]:
    return {"state": firing.state, "at": firing.at.isoformat(), "trigger_id": firing.trigger_id,
            "triggering_labels": firing.triggering_labels}


def _outcome(enabled: bool, firings: list[Firing], triggers: list[dict[str, Any]]) -> str:
    if not enabled:
        return "ignored: automation paused"
    if firings:
        verb = "resolved" if firings[0].state == "resolved" else "fired"
        return f"would have {verb} at {firings[0].at.isoformat()}"
    moved = [t["outcome"] for t in triggers if not t["outcome"].startswith(("ignored", "not "))]
    if moved:
        return moved[0]
    if not triggers:
        return "a metric trigger: it counts flow runs, see `tocsin automation inspect`"
    return triggers[0]["outcome"]


def near_misses(engine: EngineView, automation_id: str) -> list[dict[str, Any]]:
    """The automation's recent near-misses, newest first, each with what failed and, where
    the trigger is still loaded, the failing criteria and their nearest values."""
    compiled = engine.compiled(automation_id)
    paths = trigger_paths(compiled.automation.trigger) if compiled else {}
    out = []
    for miss in reversed(engine.near_misses(automation_id)):
        event = miss.event
        leaf = engine.leaf(miss.trigger_id)
        out.append({"at": iso(miss.at), "event_id": str(event.id), "event": event.event,
                    "occurred": event.occurred.isoformat(),
                    "resource": event.resource.get("prefect.resource.id"),
                    "trigger": paths.get(miss.trigger_id, miss.trigger_id),
                    "failed": miss.failed,
                    "why": failing(criteria(leaf, event)) if leaf is not None else []})
    return out


def failing(verdicts: dict[str, Any]) -> list[str]:
    """The failed criteria in words: `species: wanted monax, got Monax (case)`."""
    out = []
    if not verdicts["name_ok"]:
        out.append(_wanted("expect", verdicts["expect"]["patterns"], verdicts["expect"]))
    for label in verdicts["match"]:
        if not label["ok"]:
            out.append(_wanted(label["label"], label["wanted"], label))
    for spec in verdicts["match_related"]:
        for label in spec["labels"]:
            if not spec["ok"] and not label["ok"]:
                out.append(_wanted(f"related {spec['role']} {label['label']}", label["wanted"],
                                   label))
    return out


def _wanted(what: str, wanted: Any, verdict: dict[str, Any]) -> str:
    got = verdict.get("got")
    text = f"{what}: wanted {wanted}, got {'(missing)' if got is None else got}"
    if "nearest" in verdict:
        text += f" (nearest: {verdict['nearest']}, differs by {verdict['differs_by']})"
    return text
