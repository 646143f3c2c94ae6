"""The Automation and its triggers in Prefect's JSON shape, with Prefect's defaults and rules.

Validation is written out by hand rather than left to a schema library because people need
*every* problem in a definition at once, each named by its field path
(`trigger.triggers[1].within`), so that a file can be fixed in one pass. `parse_automation`
collects all errors and raises one `InvalidInput` holding them; structs it returns are the
automation "as stored" (defaults filled in, trigger ids assigned).

Trigger types form a closed union dispatched on `type`; a `metric` trigger (the jobs issue)
slots in as one more struct and one more branch in `_parse_trigger`.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime
from typing import Any, Literal

import msgspec

from ..durations import MAX_SECONDS, parse_within
from ..errors import InvalidInput
from ..events.matching import compile_name_patterns, normalize_related

Path = tuple[str | int, ...]

PROACTIVE_MIN_WITHIN = 10.0
#: Largest `threshold`: more events than any window of this daemon will count.
MAX_THRESHOLD = 1_000_000_000
#: Deepest nesting of compound and sequence triggers.
MAX_TRIGGER_DEPTH = 16


def new_id() -> str:
    return str(uuid.uuid4())


class EventTrigger(msgspec.Struct, kw_only=True, tag="event", tag_field="type"):
    id: str = msgspec.field(default_factory=new_id)
    match: dict[str, Any] = msgspec.field(default_factory=dict)
    match_related: Any = msgspec.field(default_factory=dict)
    after: list[str] = msgspec.field(default_factory=list)
    expect: list[str] = msgspec.field(default_factory=list)
    for_each: list[str] = msgspec.field(default_factory=list)
    posture: Literal["Reactive", "Proactive"] = "Reactive"
    threshold: int = 1
    #: seconds; 0 means "no window" (immediate for Reactive)
    within: float = 0.0


class CompoundTrigger(msgspec.Struct, kw_only=True, tag="compound", tag_field="type"):
    triggers: list[Trigger]
    require: int | Literal["any", "all"]
    id: str = msgspec.field(default_factory=new_id)
    within: float | None = None

    @property
    def required(self) -> int:
        if self.require == "any":
            return 1
        if self.require == "all":
            return len(self.triggers)
        return int(self.require)


class SequenceTrigger(msgspec.Struct, kw_only=True, tag="sequence", tag_field="type"):
    triggers: list[Trigger]
    id: str = msgspec.field(default_factory=new_id)
    within: float | None = None

    @property
    def required(self) -> int:
        return len(self.triggers)


class MetricQuery(msgspec.Struct, kw_only=True):
    """Prefect's MetricTriggerQuery (range and firing_for in seconds, at least 300)."""

    name: Literal["successes", "duration", "lateness"]
    threshold: float
    operator: Literal["<", "<=", ">", ">="]
    range: float = 300.0
    firing_for: float = 300.0


class MetricTrigger(msgspec.Struct, kw_only=True, tag="metric", tag_field="type"):
    """Evaluated by `metrics.MetricEvaluator` over flow-run state events (decision 8)."""

    metric: MetricQuery
    id: str = msgspec.field(default_factory=new_id)
    match: dict[str, Any] = msgspec.field(default_factory=dict)
    match_related: Any = msgspec.field(default_factory=dict)
    posture: Literal["Metric"] = "Metric"


Trigger = EventTrigger | CompoundTrigger | SequenceTrigger | MetricTrigger


class Automation(msgspec.Struct, kw_only=True):
    name: str
    trigger: Trigger
    actions: list[Any]
    description: str = ""
    enabled: bool = True
    tags: list[str] = msgspec.field(default_factory=list)
    actions_on_trigger: list[Any] = msgspec.field(default_factory=list)
    actions_on_resolve: list[Any] = msgspec.field(default_factory=list)
    owner_resource: str | None = None
    id: str | None = None
    created: datetime | None = None
    updated: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)


def definition_key(automation: dict[str, Any]) -> str:
    """An automation (as JSON) without what the daemon assigns (ids, timestamps): two with
    the same key behave alike."""
    def strip(trigger: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in trigger.items() if k != "id"}
        if "triggers" in out:
            out["triggers"] = [strip(t) for t in out["triggers"]]
        return out

    data = {k: v for k, v in automation.items() if k not in ("id", "created", "updated")}
    data["trigger"] = strip(data["trigger"])
    return json.dumps(data, sort_keys=True, default=str)


def same_definition(a: Automation, b: Automation) -> bool:
    return definition_key(a.to_dict()) == definition_key(b.to_dict())


def reset_ids(trigger: Trigger) -> None:
    """New ids for every trigger (Prefect does this on create and replace: state starts over)."""
    for _, t in _trigger_paths(trigger, ()):
        t.id = new_id()


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


class Errors:
    """Collects (path, message) pairs so validation reports every problem, not the first."""

    def __init__(self) -> None:
        self.items: list[tuple[Path, str]] = []

    def add(self, path: Path, msg: str) -> None:
        self.items.append((path, msg))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidInput([(format_path(p), m) for p, m in self.items])


# -- durations ---------------------------------------------------------------------------------
# -- field helpers -----------------------------------------------------------------------------
_TRUE = {"true", "t", "yes", "y", "on", "1"}
_FALSE = {"false", "f", "no", "n", "off", "0"}


def lax_bool(value: Any) -> bool | None:
    """A boolean as Prefect's schema (pydantic, lax) reads one: true/false, or text such as
    "true", "off", "1"; None when it is not one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    return None


def lax_int(value: Any) -> int | None:
    """A whole number as Prefect's schema reads one: 3, 3.0 or "3"; None when it is not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else None


def _check_unknown(data: dict, known: set[str], path: Path, errors: Errors) -> None:
    for key in data:
        if key not in known:
            errors.add(path + (key,), f"unknown field; expected one of: {', '.join(sorted(known))}")


def _str_list(data: dict, key: str, path: Path, errors: Errors) -> list[str]:
    """A set of strings in Prefect (after, expect, for_each, tags): a list, or one string."""
    value = data.get(key, [])
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        errors.add(path + (key,), "must be a list of strings")
        return []
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            errors.add(path + (key, i), "must be a string")
        elif item not in out:
            out.append(item)
    return out


def _spec(value: Any, path: Path, errors: Errors) -> dict[str, Any]:
    if not isinstance(value, dict):
        errors.add(path, "must be an object mapping label -> pattern or list of patterns")
        return {}
    for label, patterns in value.items():
        if isinstance(patterns, str):
            continue
        if isinstance(patterns, list) and all(isinstance(p, str) for p in patterns):
            continue
        errors.add(path + (label,), "must be a string pattern or a list of string patterns")
    return value


def _match_specs(data: dict, path: Path, errors: Errors) -> tuple[dict[str, Any], Any]:
    """`match` and `match_related` (one spec or a list of them), checked."""
    match = _spec(data.get("match") or {}, path + ("match",), errors)
    related = data.get("match_related") or {}
    if isinstance(related, list):
        for i, spec in enumerate(related):
            _spec(spec, path + ("match_related", i), errors)
    else:
        _spec(related, path + ("match_related",), errors)
    return match, related


def _within(data: dict, path: Path, errors: Errors, default: float | None,
            nullable: bool = False) -> float | None:
    if "within" not in data or (nullable and data["within"] is None):
        return default
    try:
        return parse_within(data["within"])
    except ValueError as exc:
        errors.add(path + ("within",), str(exc))
        return default


# -- triggers ----------------------------------------------------------------------------------
EVENT_FIELDS = {"type", "id", "match", "match_related", "after", "expect", "for_each",
                "posture", "threshold", "within"}
COMPOSITE_FIELDS = {"type", "id", "triggers", "require", "within"}


def _trigger_type(data: dict) -> str:
    """Prefect's client discriminator (§4.5): explicit type, else guessed from the fields."""
    if "type" in data:
        return data["type"]
    if "triggers" in data:
        return "compound" if "require" in data else "sequence"
    if data.get("posture") == "Metric":
        return "metric"
    return "event"


def _parse_trigger(data: Any, path: Path, errors: Errors) -> Trigger | None:
    if path.count("triggers") >= MAX_TRIGGER_DEPTH:
        errors.add(path, f"triggers are nested deeper than {MAX_TRIGGER_DEPTH} levels")
        return None
    if not isinstance(data, dict):
        errors.add(path, "must be an object (a trigger with a `type`)")
        return None
    kind = _trigger_type(data)
    if kind == "event":
        return _parse_event_trigger(data, path, errors)
    if kind in ("compound", "sequence"):
        return _parse_composite(kind, data, path, errors)
    if kind == "metric":
        if path != ("trigger",):
            errors.add(path + ("type",), "a metric trigger must be the automation's trigger "
                       "itself, not inside a compound or sequence")
        return _parse_metric_trigger(data, path, errors)
    errors.add(path + ("type",),
               f"unknown trigger type {kind!r}; use event, compound, sequence or metric")
    return None


def _parse_event_trigger(data: dict, path: Path, errors: Errors) -> EventTrigger:
    _check_unknown(data, EVENT_FIELDS, path, errors)
    match, related = _match_specs(data, path, errors)
    posture = data.get("posture", "Reactive")
    if posture not in ("Reactive", "Proactive"):
        errors.add(path + ("posture",), f"must be \"Reactive\" or \"Proactive\", not {posture!r}")
        posture = "Reactive"
    threshold = lax_int(data.get("threshold", 1))
    if threshold is None:
        errors.add(path + ("threshold",), "must be a whole number")
        threshold = 1
    elif not 0 <= threshold <= MAX_THRESHOLD:
        errors.add(path + ("threshold",), f"must be between 0 and {MAX_THRESHOLD}")
        threshold = 1
    within = _within(data, path, errors, 0.0) or 0.0
    if posture == "Proactive":
        if within == 0:
            within = PROACTIVE_MIN_WITHIN
        elif within < PROACTIVE_MIN_WITHIN:
            errors.add(path + ("within",),
                       "`within` for Proactive triggers must be greater than or equal to 10 seconds")
    return EventTrigger(
        id=_trigger_id(data, path, errors), match=match, match_related=related,
        after=_str_list(data, "after", path, errors),
        expect=_str_list(data, "expect", path, errors),
        for_each=_str_list(data, "for_each", path, errors),
        posture=posture, threshold=threshold, within=within,
    )


METRIC_FIELDS = {"type", "id", "match", "match_related", "posture", "metric"}
METRIC_QUERY_FIELDS = {"name", "threshold", "operator", "range", "firing_for"}
METRIC_MIN_SECONDS = 300.0


def _parse_metric_trigger(data: dict, path: Path, errors: Errors) -> MetricTrigger | None:
    """Prefect's MetricTrigger; range and firing_for take seconds or ISO-8601 (min 300 s)."""
    _check_unknown(data, METRIC_FIELDS, path, errors)
    if data.get("posture", "Metric") != "Metric":
        errors.add(path + ("posture",), "must be \"Metric\" for a metric trigger")
    match, related = _match_specs(data, path, errors)
    query = data.get("metric")
    qpath = path + ("metric",)
    if not isinstance(query, dict):
        errors.add(qpath, "required: {name, threshold, operator, range, firing_for}")
        return None
    _check_unknown(query, METRIC_QUERY_FIELDS, qpath, errors)
    if query.get("name") not in ("successes", "duration", "lateness"):
        errors.add(qpath + ("name",), "must be one of successes, duration, lateness")
    if query.get("operator") not in ("<", "<=", ">", ">="):
        errors.add(qpath + ("operator",), "must be one of <, <=, >, >=")
    threshold = query.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        errors.add(qpath + ("threshold",), "required: a number")
    elif not math.isfinite(threshold) or abs(threshold) > MAX_SECONDS:
        errors.add(qpath + ("threshold",), f"must be a finite number no larger than "
                   f"{MAX_SECONDS:g}")
    spans: dict[str, float] = {}
    for key in ("range", "firing_for"):
        try:
            spans[key] = parse_within(query.get(key, METRIC_MIN_SECONDS))
        except ValueError as exc:
            errors.add(qpath + (key,), str(exc))
            continue
        if spans[key] < METRIC_MIN_SECONDS:
            errors.add(qpath + (key,), "The minimum range is 300 seconds (5 minutes)")
    if errors.items:
        return None
    return MetricTrigger(
        id=_trigger_id(data, path, errors), match=match, match_related=related,
        metric=MetricQuery(name=query["name"], threshold=float(threshold),
                           operator=query["operator"], **spans))


def _parse_composite(kind: str, data: dict, path: Path,
                     errors: Errors) -> CompoundTrigger | SequenceTrigger | None:
    known = COMPOSITE_FIELDS if kind == "compound" else COMPOSITE_FIELDS - {"require"}
    _check_unknown(data, known, path, errors)
    raw = data.get("triggers")
    children: list[Trigger] = []
    if not isinstance(raw, list) or not raw:
        errors.add(path + ("triggers",), "must be a non-empty list of triggers")
    else:
        for i, child in enumerate(raw):
            parsed = _parse_trigger(child, path + ("triggers", i), errors)
            if parsed is not None:
                children.append(parsed)
    within = _within(data, path, errors, None, nullable=True)
    tid = _trigger_id(data, path, errors)
    if kind == "sequence":
        return SequenceTrigger(id=tid, triggers=children, within=within)
    require = data.get("require")
    n = len(raw) if isinstance(raw, list) else 0
    if require in ("any", "all"):
        pass
    elif (require := lax_int(require)) is not None:
        if require < 1:
            errors.add(path + ("require",), "require must be at least 1")
        elif n and require > n:
            errors.add(path + ("require",),
                       "require must be less than or equal to the number of triggers")
    else:
        errors.add(path + ("require",), "required: \"any\", \"all\" or a number of triggers")
        require = "all"
    return CompoundTrigger(id=tid, triggers=children, require=require, within=within)


def _trigger_id(data: dict, path: Path, errors: Errors) -> str:
    tid = data.get("id")
    if tid is None:
        return new_id()
    try:
        return str(uuid.UUID(str(tid)))
    except ValueError:
        errors.add(path + ("id",), "must be a UUID (or left out)")
        return new_id()


# -- actions -----------------------------------------------------------------------------------
def _parse_actions(data: dict, key: str, errors: Errors, required: bool = False) -> list[Any]:
    if key not in data:
        if required:
            errors.add((key,), "required (a list of actions; it may be empty)")
        return []
    value = data[key]
    if not isinstance(value, list):
        errors.add((key,), "must be a list of actions")
        return []
    from ..actions.model import parse_actions  # here: it imports jinja2 (templates)

    try:
        return parse_actions(value, key)
    except InvalidInput as exc:
        for p, m in exc.errors:
            errors.add((p,), m)
        return []


# -- the automation ----------------------------------------------------------------------------
AUTOMATION_FIELDS = {"name", "description", "enabled", "tags", "trigger", "actions",
                     "actions_on_trigger", "actions_on_resolve", "owner_resource",
                     "id", "created", "updated"}


def parse_automation(data: Any, *, keep_ids: bool = False) -> Automation:
    """Validate one automation (a parsed JSON/YAML object) and fill in Prefect's defaults.

    Raises InvalidInput with every problem found. Trigger ids are new unless `keep_ids`.
    """
    errors = Errors()
    if not isinstance(data, dict):
        errors.add((), "an automation must be an object with name, trigger and actions")
        errors.raise_if_any()
    _check_unknown(data, AUTOMATION_FIELDS, (), errors)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.add(("name",), "required: a non-empty string")
        name = ""
    description = data.get("description") or ""
    if not isinstance(description, str):
        errors.add(("description",), "must be a string")
        description = ""
    enabled = lax_bool(data.get("enabled", True))
    if enabled is None:
        errors.add(("enabled",), "must be true or false")
        enabled = True
    owner = data.get("owner_resource")
    if owner is not None and not isinstance(owner, str):
        errors.add(("owner_resource",), "must be a resource id string or null")
        owner = None
    trigger = None
    if "trigger" not in data:
        errors.add(("trigger",), "required: the trigger (type event, compound or sequence)")
    else:
        trigger = _parse_trigger(data["trigger"], ("trigger",), errors)
    automation = Automation(
        name=name, description=description, enabled=enabled,
        tags=_str_list(data, "tags", (), errors),
        trigger=trigger or EventTrigger(),
        actions=_parse_actions(data, "actions", errors, required=True),
        actions_on_trigger=_parse_actions(data, "actions_on_trigger", errors),
        actions_on_resolve=_parse_actions(data, "actions_on_resolve", errors),
        owner_resource=owner,
    )
    if trigger is not None:
        _check_loops(automation, errors)
    errors.raise_if_any()
    if not keep_ids:
        reset_ids(automation.trigger)
    return automation


def _check_loops(automation: Automation, errors: Errors) -> None:
    """tocsin's loop guard and Prefect's run-deployment loop guard (decision 11, §3)."""
    paths = _trigger_paths(automation.trigger, ("trigger",))
    for path, t in paths:
        if isinstance(t, EventTrigger) and not t.expect and not t.match:
            errors.add(path, "this trigger has an empty `expect` and an empty `match`, so it "
                       "sees every event including this automation's own "
                       "prefect.automation.* events and would fire on itself; name the events "
                       "in `expect` or narrow `match`")
        elif isinstance(t, EventTrigger) and _sees_own_events(t):
            errors.add(path + ("expect",), f"with an empty `match`, `expect` {t.expect} admits "
                       "this automation's own prefect.automation.triggered and .resolved events "
                       "(a negated or glob pattern matches them), so it would fire on itself; "
                       "name the events it should count in `expect`, or narrow `match`")
    root = automation.trigger
    if not (automation.enabled and isinstance(root, EventTrigger)
            and root.posture == "Reactive" and _watches_flow_run_start(root.expect)):
        return
    every_run = _is_every_flow_run(root.match) and any(
        _is_every_flow_run(s) for s in normalize_related(root.match_related) or [{}])
    for i, action in enumerate(automation.actions):
        kind = _field(action, "type")
        if kind != "run-deployment":
            continue
        if _field(action, "source") == "inferred" or every_run:
            errors.add(("actions", i), "this run-deployment action would start a flow run that "
                       "triggers this automation again (an infinite loop); narrow the trigger's "
                       "`match` / `match_related` or select a different deployment")


#: What an automation emits when it changes state (see automations/emitted.py).
_OWN_EVENTS = ("prefect.automation.triggered", "prefect.automation.resolved")


def _sees_own_events(trigger: EventTrigger) -> bool:
    """A trigger with no `match` whose `expect` admits the automation's own state-change
    events through a negated or glob pattern (`["!x"]`, `["*"]`), not by naming them."""
    if trigger.match or any(p.startswith("prefect.automation.") for p in trigger.expect):
        return False
    admits = compile_name_patterns(trigger.expect)
    return any(admits(name) for name in _OWN_EVENTS)


def _trigger_paths(trigger: Trigger, path: Path) -> list[tuple[Path, Trigger]]:
    """The trigger and all its descendants, depth-first, each with its field path."""
    out: list[tuple[Path, Trigger]] = [(path, trigger)]
    if isinstance(trigger, (CompoundTrigger, SequenceTrigger)):
        for i, child in enumerate(trigger.triggers):
            out.extend(_trigger_paths(child, path + ("triggers", i)))
    return out


_RUN_START = {"prefect.flow-run.Scheduled", "prefect.flow-run.Pending",
              "prefect.flow-run.Running", "prefect.flow-run.*"}


def _watches_flow_run_start(expect: list[str]) -> bool:
    return any(e.startswith("prefect.flow-run.") for e in expect) and bool(_RUN_START & set(expect))


def _is_every_flow_run(spec: dict[str, Any]) -> bool:
    return not spec or spec == {"prefect.resource.id": "prefect.flow-run.*"}


def _field(action: Any, name: str) -> Any:
    return action.get(name) if isinstance(action, dict) else getattr(action, name, None)
