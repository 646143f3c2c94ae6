"""Virtual-time helpers for engine tests: build automations and events at offsets from T0."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tocsin.automations.engine import Engine
from tocsin.automations.model import parse_automation
from tocsin.events.model import Event
from tocsin.firing import Firing

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def ts(seconds: float) -> float:
    return at(seconds).timestamp()


def event(name: str, t: float, rid: str = "r1", *, labels: dict[str, str] | None = None,
          related: list[dict[str, str]] | None = None, follows: Any = None,
          received: float | None = None, id: Any = None) -> Event:
    return Event(event=name, occurred=at(t), resource={"prefect.resource.id": rid, **(labels or {})},
                 related=related or [], follows=follows, id=id or uuid.uuid4(),
                 received=at(received if received is not None else t))


class Timeline:
    """An engine with automations loaded at t=0, fed events at their received time."""

    def __init__(self, *triggers_or_automations: dict[str, Any], **engine_kwargs: Any) -> None:
        self.engine = Engine(**engine_kwargs)
        self.automations = []
        for i, item in enumerate(triggers_or_automations):
            data = item if "trigger" in item else {"name": f"a{i}", "trigger": item, "actions": []}
            automation = parse_automation(data)
            automation.id = str(uuid.uuid4())
            self.engine.load(automation, ts(0))
            self.automations.append(automation)
        self.firings: list[Firing] = []

    def send(self, ev: Event) -> list[Firing]:
        now = (ev.received or ev.occurred).timestamp()
        got = self.engine.process(ev, now)
        self.firings.extend(got)
        return got

    def emit(self, name: str, t: float, rid: str = "r1", **kwargs: Any) -> list[Firing]:
        return self.send(event(name, t, rid, **kwargs))

    def tick(self, t: float) -> list[Firing]:
        got = self.engine.advance(ts(t))
        self.firings.extend(got)
        return got

    def times(self, state: str = "triggered") -> list[float]:
        return [round(f.at.timestamp() - T0.timestamp(), 3) for f in self.firings if f.state == state]
