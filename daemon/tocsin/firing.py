"""A Firing: one trigger firing (or resolving), as Prefect's engine hands it to actions.

This is the contract between the engine (which makes firings), the action queue (which runs
their actions) and templates (which render from them); it lives beside them, not in either
package, so that neither imports the other for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from .events.model import Event


class Firing(msgspec.Struct, kw_only=True):
    id: str
    automation_id: str
    trigger_id: str
    #: "triggered" or "resolved" (proactive firings resolve when the missing event comes)
    state: Literal["triggered", "resolved"]
    #: when it fired: virtual time in replay, the daemon's clock live
    at: datetime
    triggering_event: Event | None = None
    triggering_labels: dict[str, str] = msgspec.field(default_factory=dict)
    #: for composite triggers: the child firings that made the parent fire
    triggering_firings: list[Firing] = msgspec.field(default_factory=list)
    #: metric triggers: the value that breached
    triggering_value: Any = None
    #: event triggers: the window (event time, seconds) whose count made it fire, so a
    #: trace can list the events that counted
    window: tuple[float, float] | None = None

    def all_firings(self) -> list[Firing]:
        """This firing and its nested child firings, depth-first (Prefect's `firings`)."""
        out = [self]
        for child in self.triggering_firings:
            out.extend(child.all_firings())
        return out

    def all_events(self) -> list[Event]:
        """Triggering events of the whole tree, depth-first, missing ones skipped."""
        return [f.triggering_event for f in self.all_firings() if f.triggering_event is not None]
