"""`from tocsin.events.schemas.automations import EventTrigger, Posture, ...` as in Prefect.

The trigger classes are the ones `tocsin.events` exports (light field holders; the daemon
validates what they send). `Posture` and `ResourceSpecification` are Prefect's names for a
trigger's posture and for a match / match_related mapping.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from ...events_api import CompoundTrigger, EventTrigger, MetricTrigger, SequenceTrigger, _plain


class Posture(str, Enum):
    Reactive = "Reactive"
    Proactive = "Proactive"
    Metric = "Metric"


class ResourceSpecification(dict):
    """label -> pattern (or list of patterns), as in `match={...}`; Prefect wraps the same
    mapping in a class, and `ResourceSpecification({...})` reads the same here."""


class MetricTriggerQuery:
    """The `metric` of a MetricTrigger: name, threshold, operator, range, firing_for."""

    def __init__(self, **values: Any) -> None:
        self.values = values

    def to_dict(self) -> dict[str, Any]:
        return {k: _plain(v) for k, v in self.values.items()}


__all__ = ["CompoundTrigger", "EventTrigger", "MetricTrigger", "MetricTriggerQuery", "Posture",
           "ResourceSpecification", "SequenceTrigger"]
