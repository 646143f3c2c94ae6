"""Automations: the model, the engine, and `Automation` for Python programs.

Importing this package stays light (no aiohttp, no aiosqlite): the daemon-side modules
(`component`, `api`) are imported only by the daemon.
"""

from .client import Automation
from .model import CompoundTrigger, EventTrigger, SequenceTrigger

__all__ = ["Automation", "CompoundTrigger", "EventTrigger", "SequenceTrigger"]
