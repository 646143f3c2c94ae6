"""Events: the model, resource matching and (in `store`) the SQLite event store."""

from .matching import ResourceMatcher, compile_spec, matches
from .model import Event, decode_event, decode_events, event_from_dict, uuid7

# Prefect's `prefect.events` names for Python programs (the jobs part owns them; lazy so the
# daemon's own imports stay as they were).
_PREFECT_NAMES = {"CompoundTrigger", "DeploymentCompoundTrigger", "DeploymentEventTrigger",
                  "DeploymentMetricTrigger", "DeploymentSequenceTrigger", "EventTrigger",
                  "MetricTrigger", "SequenceTrigger"}


_SCHEMA_NAMES = {"Posture", "ResourceSpecification", "MetricTriggerQuery"}


def __getattr__(name: str):
    if name in _PREFECT_NAMES:
        from .. import events_api

        return getattr(events_api, name)
    if name in _SCHEMA_NAMES:
        from .schemas import automations

        return getattr(automations, name)
    if name[:1].isupper():  # the action classes: `from tocsin.events import RunDeployment`
        from . import actions

        if name in actions.__all__:
            return getattr(actions, name)
    if name == "emit_event":
        from ..client import emit_event

        return emit_event
    raise AttributeError(f"module 'tocsin.events' has no attribute {name!r}")

__all__ = [
    "Event",
    "ResourceMatcher",
    "compile_spec",
    "decode_event",
    "decode_events",
    "event_from_dict",
    "matches",
    "uuid7",
]
