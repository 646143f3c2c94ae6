"""Automations: the model, the engine, and `Automation` for Python programs.

Importing this package stays light (no aiohttp, no aiosqlite): the daemon-side modules
(`component`, `api`) are imported only by the daemon.
"""

from ..events.schemas.automations import (
    CompoundTrigger,
    EventTrigger,
    MetricTrigger,
    MetricTriggerQuery,
    Posture,
    ResourceSpecification,
    SequenceTrigger,
)
from .client import Automation

__all__ = ["Automation", "CompoundTrigger", "EventTrigger", "MetricTrigger", "MetricTriggerQuery",
           "Posture", "ResourceSpecification", "SequenceTrigger"]
