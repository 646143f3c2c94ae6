"""`tocsin replay`: the daemon's engine over a recorded timeline, on virtual time.

Nothing is executed. Events are taken in the order of `received` (else `occurred`; file
order breaks ties), the automations exist from `since`, and the clock runs to `until`,
firing proactive deadlines in time order. The engine's own state-change events are fed back
in at their virtual time, as the daemon feeds them back through ingestion.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..events.model import Event, decode_event
from ..firing import Firing
from .emitted import state_change_event
from .engine import Engine
from .model import Automation

REPLAY_NAMESPACE = uuid.UUID("6f1c2a0e-3b7d-4c55-9a51-7d1e0c2b9f10")


def read_events(path: str | Path) -> list[Event]:
    """Events from a JSON-lines file; every bad line is reported with its number."""
    events: list[Event] = []
    errors: list[tuple[str, str]] = []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise InvalidInput([("--events", f"cannot read {path}: {exc.strerror}")]) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            events.append(decode_event(line))
        except InvalidInput as exc:
            errors.extend((f"{path}:{number}" + (f": {p}" if p else ""), m) for p, m in exc.errors)
    if errors:
        raise InvalidInput(errors)
    return events


def event_time(event: Event) -> datetime:
    return event.received or event.occurred


def replay(automations: list[Automation], events: list[Event], since: datetime | None = None,
           until: datetime | None = None, notices: list[str] | None = None,
           explain: bool = False) -> Iterator[dict[str, Any]]:
    """One output record per automation state change, in time order. Messages for people
    (an automation paused by the loop guard) go to `notices`, not into the records. With
    `explain`, each record is the state change's trace instead (see traces.py)."""
    timeline = sorted(enumerate(events), key=lambda ie: (event_time(ie[1]), ie[0]))
    ordered = [e for _, e in timeline]
    start = since or (event_time(ordered[0]) if ordered else None)
    end = until or (event_time(ordered[-1]) if ordered else start)
    if start is None or end is None:
        return
    by_id: dict[str, Automation] = {}
    engine = Engine()
    for index, automation in enumerate(automations):
        # stable ids, so a replay's output (and inferred automation targets) repeat exactly
        automation.id = automation.id or str(uuid.uuid5(REPLAY_NAMESPACE,
                                                        f"{index}:{automation.name}"))
        by_id[automation.id] = automation
        engine.load(automation, start.timestamp())
    run = _Run(engine, by_id, notices if notices is not None else [], explain)
    for event in ordered:
        t = event_time(event)
        if t < start or t > end:
            continue
        yield from run.until(t.timestamp())
        if run.seen is not None:
            run.seen.append(event)
        yield from run.feed(engine.process(event, t.timestamp()))
    yield from run.until(end.timestamp())


class _Run:
    """Turns firings into output records and feeds their state-change events back in."""

    def __init__(self, engine: Engine, automations: dict[str, Automation],
                 notices: list[str], explain: bool = False) -> None:
        self.engine = engine
        self.automations = automations
        self.notices = notices
        #: events fed so far, when traces need the ones that counted
        self.seen: list[Event] | None = [] if explain else None

    def until(self, t: float) -> Iterator[dict[str, Any]]:
        """Deadlines up to t, one at a time, so feedback lands at each deadline's time."""
        while (deadline := self.engine.next_deadline()) is not None and deadline <= t:
            yield from self.feed(self.engine.advance(deadline))

    def feed(self, firings: list[Firing]) -> Iterator[dict[str, Any]]:
        queue = list(firings)
        while queue:
            firing = queue.pop(0)
            automation = self.automations[firing.automation_id]
            event = state_change_event(automation, firing)
            event.received = firing.at
            if self.seen is None:
                yield record(automation, firing, event)
            else:
                yield trace_record(automation, firing, event, self.engine, self.seen)
            queue.extend(self.engine.process(event, firing.at.timestamp()))
        for automation_id, reason, _ in self.engine.take_paused():
            self.notices.append(f"{self.automations[automation_id].name}: {reason}")


def record(automation: Automation, firing: Firing, state_event: Event) -> dict[str, Any]:
    """The replay output line for one state change (DESIGN.md: a stable contract)."""
    trigger_event = firing.triggering_event
    return {
        "at": firing.at.isoformat(),
        "automation": automation.name,
        "state": firing.state,
        "triggering_event": str(trigger_event.id) if trigger_event else None,
        "triggering_labels": firing.triggering_labels,
        "actions": preview(automation, firing, state_event),
    }


def trace_record(automation: Automation, firing: Firing, state_event: Event, engine: Engine,
                 seen: list[Event]) -> dict[str, Any]:
    """The trace of one state change on virtual time: as the daemon's, with each action as
    it would run (its preview) in place of attempts."""
    from .traces import trace_document, trigger_parts

    actions = []
    for index, shown in enumerate(preview(automation, firing, state_event)):
        actions.append({"index": index, "type": shown["type"],
                        "status": "would fail" if "error" in shown else "would run",
                        "error": shown.get("error"), "preview": shown, "attempts": []})
    parts = trigger_parts(automation, firing, engine.leaves(automation.id or ""), seen)
    return trace_document(automation, firing, str(state_event.id), parts, actions)


def preview(automation: Automation, firing: Firing, state_event: Event) -> list[Any]:
    """The firing's actions as they would run: rendered, with resolved targets."""
    from ..actions.render import preview_firing  # here: it imports jinja2 (templates)

    return preview_firing(automation, firing, state_event)
