"""The template context, as Prefect gives it (§9.2): `event`, `automation`, `labels`,
`firing`, `firings`, `events` — and, through the loaders the jobs part gives the actions part
(see `load_objects`), objects such as `flow_run` or `deployment` that are fetched only when a
template names them.

Events and resources are wrapped in small read-only views so that templates written for
Prefect work unchanged: `event.resource.id`, `event.resource['label']`,
`event.resource.labels.a.b.c`, `event.resource_in_role['role']`, `event.related[0].role`.
Each view also knows its `ui_url` (tocsin's decision 10).
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

import msgspec

from ..events.model import Event
from ..firing import Firing
from ..templates import is_template, referenced_names, ui_base

log = logging.getLogger(__name__)

# Prefect's UI paths by resource kind (`prefect.<kind>.<id>`).
_UI_PATHS = {
    "flow-run": "runs/flow-run", "task-run": "runs/task-run", "flow": "flows/flow",
    "deployment": "deployments/deployment", "work-pool": "work-pools/work-pool",
    "work-queue": "work-queues/work-queue", "automation": "automations/automation",
    "block-document": "blocks/block",
}

#: The Prefect objects a template can name; each is loaded only when one does (§9.2).
PREFECT_OBJECTS = ("flow_run", "flow", "deployment", "work_pool", "work_queue")

#: An async loader of one object a template may name, from the triggering event: the object
#: (a Struct or a dict), or None when it cannot be found (it renders as "").
LazyLoader = Callable[[Event | None], Awaitable[Any]]


async def load_objects(context: dict[str, Any], loaders: Mapping[str, LazyLoader],
                       event: Event | None, sources: Iterable[str]) -> None:
    """Put `flow_run`, `deployment`, ... into `context` when one of the templates `sources`
    names them, each found from `event` by its loader in `loaders`, as Prefect finds them
    (§9.2). The action worker and the template preview both call this, so a preview shows
    what the action would send. An object that cannot be found stays out of the context and
    renders empty (tocsin's decision)."""
    wanted: set[str] = set()
    for source in sources:
        wanted |= referenced_names(source)
    for name in sorted(wanted & loaders.keys()):
        try:
            found = await loaders[name](event)
        except Exception:
            log.exception("loading %s for a template failed; it renders empty", name)
            continue
        if found is not None:
            data = found if isinstance(found, dict) else msgspec.to_builtins(
                found, builtin_types=(datetime,))
            context[name] = ObjectView(_prefect_types(data), name.replace("_", "-"))


def template_strings(value: Any) -> list[str]:
    """Every template string inside an action (its fields, parameters, job variables)."""
    if isinstance(value, str):
        return [value] if is_template(value) else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in template_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in template_strings(v)]
    return []


class EnumText(str):
    """A state type as Prefect's templates see it (an enum): `{{ flow_run.state.type }}` is
    the text, and `.value` works as on Prefect's StateType."""

    @property
    def value(self) -> str:
        return str(self)


def _prefect_types(data: dict[str, Any]) -> dict[str, Any]:
    """A state's `type` is an enum in Prefect; times stay datetimes (as loaded)."""
    state = data.get("state")
    if isinstance(state, dict) and isinstance(state.get("type"), str):
        data = {**data, "state": {**state, "type": EnumText(state["type"])}}
    return data


class ObjectView(dict):
    """A flow run, flow, deployment, work pool or work queue as templates see it: its fields,
    and its `ui_url` (Prefect's UI path, or the `tocsin` command that shows it)."""

    def __init__(self, data: dict[str, Any], kind: str) -> None:
        super().__init__(data)
        self._kind = kind

    def ui_url(self, base: str | None) -> str:
        ident = self.get("name") if self._kind == "work-pool" else self.get("id")
        if base:
            return f"{base}/{_UI_PATHS[self._kind]}/{ident}"
        command = _INSPECT_COMMANDS.get(self._kind)
        if command:
            return f"{command} {shlex.quote(str(self.get('id')))}"
        return self.ui_resource_events_url(base)

    def ui_resource_events_url(self, base: str | None) -> str:
        return resource_events_url(f"prefect.{self._kind}.{self.get('id')}", base)


_INSPECT_COMMANDS = {"flow-run": "tocsin run inspect", "deployment": "tocsin deployment inspect"}


class LabelTree:
    """Labels as a tree: `labels.prefect.resource.id` and `labels['prefect.resource.id']`;
    iterating gives (label, value) pairs."""

    def __init__(self, labels: dict[str, str], prefix: str = "") -> None:
        self._labels = labels
        self._prefix = prefix

    def __getitem__(self, key: str) -> Any:
        full = self._prefix + key
        deeper = full + "."
        if any(k.startswith(deeper) for k in self._labels):
            if full in self._labels:
                return self._labels[full]
            return LabelTree(self._labels, deeper)
        return self._labels[full]

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter([(k[len(self._prefix):], v) for k, v in self._labels.items()
                     if k.startswith(self._prefix)])

    def __contains__(self, key: str) -> bool:
        return (self._prefix + key) in self._labels

    def __str__(self) -> str:
        return str(dict(self))

    def __json__(self) -> dict[str, str]:
        return dict(self)


class ResourceView(dict):
    """A resource's labels, plus `.id`, `.name`, `.role` and `.labels` as in Prefect.
    Iterating it yields (label, value) pairs, as the guide's
    `{% for label, value in event.resource %}` expects."""

    def __iter__(self) -> Iterator[tuple[str, str]]:  # type: ignore[override]
        return iter(list(self.items()))

    @property
    def id(self) -> str:
        return self.get("prefect.resource.id", "")

    @property
    def name(self) -> str | None:
        return self.get("prefect.resource.name")

    @property
    def role(self) -> str | None:
        return self.get("prefect.resource.role")

    @property
    def labels(self) -> LabelTree:
        return LabelTree(dict(self))

    def ui_url(self, base: str | None) -> str:
        kind, _, ident = self.id.rpartition(".")
        kind = kind.removeprefix("prefect.")
        if base and kind in _UI_PATHS:
            if kind == "work-pool" and self.name:
                ident = self.name
            return f"{base}/{_UI_PATHS[kind]}/{ident}"
        return self.ui_resource_events_url(base)

    def ui_resource_events_url(self, base: str | None) -> str:
        return resource_events_url(self.id, base)


def resource_events_url(resource_id: str, base: str | None) -> str:
    if base:
        return f"{base}/events?resource={resource_id}"
    return f"tocsin events ls --resource {shlex.quote('prefect.resource.id=' + resource_id)}"


class _ByRole:
    def __init__(self, related: list[ResourceView], many: bool) -> None:
        self._related = related
        self._many = many

    def __getitem__(self, role: str) -> Any:
        found = [r for r in self._related if r.role == role]
        if self._many:
            return found
        if not found:
            raise KeyError(role)
        return found[0]


class EventView:
    """An event as templates see it (Prefect's ReceivedEvent attributes)."""

    def __init__(self, event: Event) -> None:
        self._event = event
        self.id = str(event.id)
        self.event = event.event
        self.occurred: datetime = event.occurred
        self.received: datetime | None = event.received
        self.payload = event.payload
        self.follows = str(event.follows) if event.follows else None
        self.resource = ResourceView(event.resource)
        self.related = [ResourceView(r) for r in event.related]
        self.resource_in_role = _ByRole(self.related, many=False)
        self.resources_in_role = _ByRole(self.related, many=True)

    @property
    def involved_resources(self) -> list[ResourceView]:
        return [self.resource, *self.related]

    @property
    def url(self) -> str:
        return self.ui_url(ui_base())

    def ui_url(self, base: str | None) -> str:
        if base:
            return f"{base}/events/event/{self.occurred.date().isoformat()}/{self.id}"
        return (f"tocsin events ls --json --name {shlex.quote(self.event)} --resource "
                f"{shlex.quote('prefect.resource.id=' + self.resource.id)} "
                f"--since {self.occurred.isoformat()} --oldest-first --limit 1")

    def ui_resource_events_url(self, base: str | None) -> str:
        return self.resource.ui_resource_events_url(base)

    def __json__(self) -> Any:
        return msgspec.to_builtins(self._event)

    def __str__(self) -> str:
        return msgspec.json.encode(self._event).decode()


class AutomationView(dict):
    """The automation as stored (a dict: `automation.name`, `automation.trigger.type`...)."""

    def ui_url(self, base: str | None) -> str:
        if base:
            return f"{base}/automations/automation/{self.get('id')}"
        return f"tocsin automation inspect {shlex.quote(str(self.get('name', '')))}"

    def ui_resource_events_url(self, base: str | None) -> str:
        return resource_events_url(f"prefect.automation.{self.get('id')}", base)


def _automation_view(automation: Any) -> AutomationView:
    data = automation_dict(automation)
    if "trigger" in data:
        data["trigger"] = _with_durations(data["trigger"])
    return AutomationView(data)


class FiringView:
    """A firing as templates see it: Prefect's Firing fields, events as EventViews."""

    def __init__(self, firing: Firing) -> None:
        self._firing = firing
        self.id = firing.id
        self.automation_id = firing.automation_id
        self.trigger_id = firing.trigger_id
        self.state = firing.state
        self.trigger_states = [firing.state.capitalize()]
        self.triggered: datetime = firing.at
        self.triggering_labels = dict(firing.triggering_labels)
        event = firing.triggering_event
        self.triggering_event = EventView(event) if event is not None else None
        self.triggering_firings = [FiringView(f) for f in firing.triggering_firings]
        self.triggering_value = firing.triggering_value

    def __json__(self) -> Any:
        return msgspec.to_builtins(self._firing)

    def __str__(self) -> str:
        return msgspec.json.encode(self._firing).decode()


def automation_dict(automation: Any) -> dict[str, Any]:
    """The automation as plain JSON-ready values (a Struct, dataclass or dict)."""
    if automation is None:
        return {}
    return msgspec.to_builtins(automation)


def _with_durations(trigger: Any) -> Any:
    """Durations as Prefect's templates see them, `timedelta`s (`{{ automation.trigger.within
    }}` renders `0:01:00`): `within`, and a metric query's `range` and `firing_for`."""
    if not isinstance(trigger, dict):
        return trigger
    out = dict(trigger)
    if isinstance(out.get("within"), (int, float)):
        out["within"] = timedelta(seconds=out["within"])
    if isinstance(out.get("metric"), dict):
        out["metric"] = {k: timedelta(seconds=v) if k in ("range", "firing_for")
                         and isinstance(v, (int, float)) else v for k, v in out["metric"].items()}
    if isinstance(out.get("triggers"), list):
        out["triggers"] = [_with_durations(t) for t in out["triggers"]]
    return out


def template_context(automation: Any, firing: Firing | None,
                     triggering_event: Event | None) -> dict[str, Any]:
    """What templates render with; `triggering_event` is the action's own (for
    `actions_on_trigger`, the automation's state-change event — see `events_for_actions`)."""
    firings = firing.all_firings() if firing is not None else []
    events = firing.all_events() if firing is not None else []
    if not events and triggering_event is not None:
        events = [triggering_event]
    return {
        "automation": _automation_view(automation),
        "event": EventView(triggering_event) if triggering_event is not None else None,
        "labels": LabelTree(dict(firing.triggering_labels) if firing is not None else {}),
        "firing": FiringView(firing) if firing is not None else None,
        "firings": [FiringView(f) for f in firings],
        "events": [EventView(e) for e in events],
    }


def event_of(context: dict[str, Any]) -> Event | None:
    """The triggering event behind a context built by `template_context`."""
    view = context.get("event")
    return view._event if isinstance(view, EventView) else None


def labels_of(context: dict[str, Any]) -> dict[str, str]:
    tree = context.get("labels")
    return dict(tree._labels) if isinstance(tree, LabelTree) else {}
