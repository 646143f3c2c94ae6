"""Trigger classes as Prefect's `prefect.events` has them, for `.serve(triggers=[...])` and
`.to_deployment(triggers=[...])`: `from tocsin.events import DeploymentEventTrigger`.

They only hold fields and turn them into the JSON the daemon validates (sets become sorted
lists, timedeltas seconds), so a program that serves flows stays light and every error is
reported by the daemon with the trigger's field path.
"""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from typing import Any, ClassVar

_EVENT = ("match", "match_related", "after", "expect", "for_each", "posture", "threshold",
          "within")
_DEPLOYMENT = ("name", "description", "enabled", "parameters", "job_variables",
               "schedule_after")


def _plain(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Enum):  # Posture.Reactive
        return value.value
    if hasattr(value, "to_dict"):  # a trigger inside a trigger, a MetricTriggerQuery
        return value.to_dict()
    return value


class _Trigger:
    type: ClassVar[str] = ""
    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **values: Any) -> None:
        unknown = sorted(set(values) - set(self.fields))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(unknown)} "
                            f"(it has: {', '.join(self.fields)})")
        self.values = values

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **{k: _plain(v) for k, v in self.values.items()}}

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{type(self).__name__}({inner})"


class EventTrigger(_Trigger):
    type = "event"
    fields = _EVENT


class CompoundTrigger(_Trigger):
    type = "compound"
    fields = ("triggers", "require", "within")


class SequenceTrigger(_Trigger):
    type = "sequence"
    fields = ("triggers", "within")


class MetricTrigger(_Trigger):
    type = "metric"
    fields = ("match", "match_related", "metric", "posture")


class DeploymentEventTrigger(EventTrigger):
    fields = _EVENT + _DEPLOYMENT


class DeploymentCompoundTrigger(CompoundTrigger):
    fields = CompoundTrigger.fields + _DEPLOYMENT


class DeploymentSequenceTrigger(SequenceTrigger):
    fields = SequenceTrigger.fields + _DEPLOYMENT


class DeploymentMetricTrigger(MetricTrigger):
    fields = MetricTrigger.fields + _DEPLOYMENT


__all__ = ["CompoundTrigger", "DeploymentCompoundTrigger", "DeploymentEventTrigger",
           "DeploymentMetricTrigger", "DeploymentSequenceTrigger", "EventTrigger",
           "MetricTrigger", "SequenceTrigger"]
