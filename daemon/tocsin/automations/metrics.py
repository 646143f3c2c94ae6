"""Metric triggers (tocsin decision 8): `successes`, `duration` and `lateness` over the flow
runs whose state events match the trigger's `match` / `match_related`, compared with
`operator` and `threshold` over the last `range` seconds; the automation triggers once the
metric has breached for `firing_for` seconds without a break, and resolves once it has been
out of breach for `firing_for` (Prefect's MetricTriggerQuery).

Pure like the rest of the engine: the flow-run state events and the clock come in as
arguments, and the state is a plain struct the engine persists. The metrics:

- successes: of the runs that went Pending and finished within the range, the fraction that
  did not end Failed or Crashed (0.0-1.0);
- duration: mean seconds from Running to the final state, over runs that finished in range;
- lateness: mean seconds from a run's expected start to its actual start (Pending), over
  runs that started in range or are still waiting past their expected start.

A metric with no runs to measure has no value and is not in breach.
"""

from __future__ import annotations

import operator
import uuid
from statistics import fmean
from typing import Any

import msgspec

from ..events.matching import ResourceMatcher
from ..events.model import Event
from ..firing import Firing
from .clock import to_datetime
from .model import MetricTrigger

OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
FAILED_TYPES = {"FAILED", "CRASHED"}
FINAL_TYPES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
#: while runs wait late, lateness grows with time: look again this often (seconds)
LATENESS_RECHECK = 5.0
#: a run with no news for this long is forgotten (it can no longer count)
IDLE_RUN = 7 * 86400.0


class RunSeen(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the flow-run events told us about one run (times as epoch seconds)."""

    expected: float | None = None
    started: float | None = None
    running: float | None = None
    ended: float | None = None
    final: str | None = None
    last: float = 0.0


class MetricState(msgspec.Struct, kw_only=True):
    automation_id: str
    trigger_id: str
    runs: dict[str, RunSeen] = msgspec.field(default_factory=dict)
    breach_since: float | None = None
    ok_since: float | None = None
    fired: bool = False
    value: float | None = None
    next_check: float | None = None
    last_event: Event | None = None


def metric_value(name: str, runs: dict[str, RunSeen], now: float, span: float) -> float | None:
    since = now - span
    if name == "successes":
        done = [r for r in runs.values()
                if r.ended is not None and r.ended >= since and r.started is not None]
        if not done:
            return None
        return sum(1 for r in done if r.final not in FAILED_TYPES) / len(done)
    if name == "duration":
        spans = [r.ended - r.running for r in runs.values()
                 if r.ended is not None and r.ended >= since and r.running is not None]
        return fmean(spans) if spans else None
    late = []
    for r in runs.values():
        if r.expected is None:
            continue
        if r.started is not None:
            if r.started >= since:
                late.append(max(0.0, r.started - r.expected))
        elif r.ended is None and r.expected < now:
            late.append(now - r.expected)
    return fmean(late) if late else None


class MetricEvaluator:
    """One automation's metric trigger and its state."""

    def __init__(self, automation_id: str, trigger: MetricTrigger,
                 state: MetricState | None = None) -> None:
        self.trigger = trigger
        self.query = trigger.metric
        self._matches = ResourceMatcher(trigger.match, trigger.match_related)
        self.state = state or MetricState(automation_id=automation_id, trigger_id=trigger.id)

    def observe(self, event: Event) -> bool:
        """Record a matching flow-run state event; False if it is not one this trigger sees."""
        if not event.event.startswith("prefect.flow-run.") or \
                not self._matches(event.resource, event.related):
            return False
        run = self.state.runs.setdefault(event.resource["prefect.resource.id"], RunSeen())
        at = event.occurred.timestamp()
        state_type = event.resource.get("prefect.state-type", "")
        run.last = max(run.last, at)
        if state_type == "SCHEDULED" and run.expected is None:
            run.expected = _expected_start(event, at)
        elif state_type == "PENDING" and run.started is None:
            run.started = at
        elif state_type == "RUNNING" and run.running is None:
            run.running = at
            run.started = run.started if run.started is not None else at
        elif state_type in FINAL_TYPES:
            run.ended, run.final = at, state_type
        self.state.last_event = event
        return True

    def evaluate(self, now: float) -> Firing | None:
        """Bring the breach bookkeeping up to `now`; a Firing when it triggers or resolves."""
        st, q = self.state, self.query
        self._forget(now)
        st.value = metric_value(q.name, st.runs, now, q.range)
        breaching = st.value is not None and OPERATORS[q.operator](st.value, q.threshold)
        firing = None
        if not st.fired:
            st.ok_since = None
            st.breach_since = (st.breach_since if st.breach_since is not None else now) \
                if breaching else None
            if st.breach_since is not None and now - st.breach_since >= q.firing_for:
                st.fired, st.breach_since = True, None
                firing = self._firing("triggered", now)
        else:
            st.breach_since = None
            st.ok_since = None if breaching else (
                st.ok_since if st.ok_since is not None else now)
            if st.ok_since is not None and now - st.ok_since >= q.firing_for:
                st.fired, st.ok_since = False, None
                firing = self._firing("resolved", now)
        st.next_check = self._next_check(now)
        return firing

    def _firing(self, state: str, now: float) -> Firing:
        return Firing(id=str(uuid.uuid4()), automation_id=self.state.automation_id,
                      trigger_id=self.trigger.id, state=state,  # type: ignore[arg-type]
                      at=to_datetime(now), triggering_event=self.state.last_event,
                      triggering_value=self.state.value)

    def _forget(self, now: float) -> None:
        span = self.query.range
        for rid in [rid for rid, r in self.state.runs.items()
                    if (r.ended is not None and r.ended < now - span)
                    or r.last < now - IDLE_RUN]:
            del self.state.runs[rid]

    def _next_check(self, now: float) -> float | None:
        """The next time the outcome can change without an event: a `firing_for` running
        out, or a run leaving the range (and, for lateness, runs waiting late)."""
        st, q = self.state, self.query
        times: list[float] = []
        for since in (st.breach_since, st.ok_since):
            if since is not None:
                times.append(since + q.firing_for)
        for r in st.runs.values():
            edge = r.ended if q.name != "lateness" else r.started
            if edge is not None and edge + q.range > now:
                times.append(edge + q.range)
            if q.name == "lateness" and r.started is None and r.ended is None \
                    and r.expected is not None:
                times.append(max(now + LATENESS_RECHECK, r.expected))
        return min(times) if times else None


def _expected_start(event: Event, at: float) -> float:
    """The run's expected start: `scheduled_time` in the state payload when given, else the
    time it was scheduled."""
    from datetime import datetime

    state: Any = (event.payload or {}).get("validated_state") or {}
    text = state.get("scheduled_time") if isinstance(state, dict) else None
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            pass
    return at
