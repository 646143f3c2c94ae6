"""The engine against a direct transcription of prefect-semantics §5.2-§5.3 (reactive triggers,
with tocsin's decisions 2 and 3: no sweep but windows forgotten 60 s after their end, an
arming event after a window's end opens a new one), on random in-order event streams. Differences would show as different firings."""

from __future__ import annotations

import fnmatch
import random

import pytest
from engine_timeline import T0, Timeline, event

LOOKBACK = 900.0
EXPIRY = 60.0


class Reference:
    """Prefect's reactive_evaluation/evaluate for one event trigger, buckets by key."""

    def __init__(self, trigger: dict) -> None:
        self.after = trigger.get("after", [])
        self.expect = trigger.get("expect", [])
        self.for_each = sorted(trigger.get("for_each", []))
        self.threshold = trigger.get("threshold", 1)
        self.within = float(trigger.get("within", 0))
        self.buckets: dict[tuple, dict] = {}
        self.fired: list[tuple[float, dict]] = []

    def expects(self, name: str) -> bool:
        return not self.expect or any(fnmatch.fnmatchcase(name, p) for p in self.expect)

    def starts_after(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self.after)

    def process(self, name: str, t: float, labels: dict[str, str], received: float) -> None:
        """`t` is the event's occurred (event time), `received` the processing time."""
        self.received = received
        if self.within:  # a reactive window is forgotten 60 s after it ends (like the sweep)
            for old_key in [k for k, b in self.buckets.items() if b["end"] + EXPIRY <= received]:
                del self.buckets[old_key]
        key = tuple(labels.get(label, "") for label in self.for_each)
        bucket = None
        if self.after and self.starts_after(name):
            old = self.buckets.get(key)
            if old is not None and self.within and t >= old["end"]:
                del self.buckets[key]  # decision 3 / no sweep: a new arming opens a new window
            bucket = self.buckets.setdefault(
                key, {"start": t, "end": t + self.within, "count": -1 if self.expects(name) else 0})
        elif not self.after and self.expects(name):
            bucket = self.buckets.setdefault(
                key, {"start": t - LOOKBACK, "end": t + self.within, "count": 0})
        if not self.expects(name):
            return
        if bucket is None:
            bucket = self.buckets.get(key)
            if bucket is None:
                return
        self.evaluate(key, bucket, t, labels)

    def evaluate(self, key: tuple, bucket: dict, now: float, labels: dict[str, str]) -> None:
        if now < bucket["start"]:
            return
        pending = True
        immediate = self.within == 0
        if immediate or bucket["start"] <= now < bucket["end"]:
            bucket["count"] += 1
            pending = False
        if bucket["count"] >= self.threshold:
            del self.buckets[key]
            self.fired.append((self.received, dict(zip(self.for_each, key))))
        elif now < bucket["end"]:
            return
        elif immediate and not self.after:
            return  # no sweep: keeps counting (decision 2)
        else:
            del self.buckets[key]
        if self.after or self.within == 0:
            return
        start = max(bucket["end"], now)
        new = {"start": start, "end": start + self.within, "count": 0}
        self.buckets[key] = new
        if pending:
            self.evaluate(key, new, now, labels)


def random_trigger(rng: random.Random) -> dict:
    trigger: dict = {"type": "event", "posture": "Reactive",
                     "threshold": rng.choice([0, 1, 1, 2, 3]),
                     "within": rng.choice([0, 5, 10, 30])}
    shape = rng.choice(["plain", "after", "same", "empty"])
    if shape == "plain":
        trigger["expect"] = ["b"]
    elif shape == "after":
        trigger["after"], trigger["expect"] = ["a"], ["b"]
    elif shape == "same":
        trigger["after"], trigger["expect"] = ["a"], ["a", "b"]
    else:
        trigger["after"], trigger["expect"] = ["a"], []
        trigger["match"] = {"prefect.resource.id": "r*"}
    if rng.random() < 0.5:
        trigger["for_each"] = ["prefect.resource.id"]
    return trigger


@pytest.mark.parametrize("seed", range(40))
def test_reactive_engine_matches_the_reference(seed):
    """Events in received order, some of them late (occurred before received)."""
    rng = random.Random(seed)
    for _ in range(10):
        trigger = random_trigger(rng)
        tl = Timeline(trigger)
        ref = Reference(trigger)
        t = 0.0
        for _ in range(40):
            t += rng.choice([0.5, 1, 2, 3, 7, 12, 40])
            lag = rng.choice([0, 0, 0, 4, 20, 100])
            name, rid = rng.choice("aabc"), rng.choice(["r1", "r2"])
            tl.send(event(name, t - lag, rid, received=t))
            ref.process(name, t - lag, {"prefect.resource.id": rid}, received=t)
        got = [(round(f.at.timestamp() - T0.timestamp(), 3), f.triggering_labels)
               for f in tl.firings]
        assert got == ref.fired, trigger


# -- proactive ------------------------------------------------------------------------------------
HELD_TTL = 1800.0


def _name_matches(name: str, patterns: list[str]) -> bool:
    return any(not fnmatch.fnmatchcase(name, p[1:]) if p.startswith("!")
               else fnmatch.fnmatchcase(name, p) for p in patterns)


class ProactiveReference:
    """§5.3-§5.4 for proactive triggers with tocsin's decisions: windows end at their deadline
    (1); `after` needs an arming event (3); plain triggers run tumbling windows from load time
    (4); early expected events are held (5); a firing resolves on the next expected event (7).
    Processing time is event time here (no late events)."""

    def __init__(self, trigger: dict) -> None:
        self.after = trigger.get("after", [])
        self.expect = trigger["expect"]
        self.keyed = bool(trigger.get("for_each"))
        self.threshold = trigger["threshold"]
        self.within = float(trigger["within"])
        self.buckets: dict[str, dict] = {}
        self.held: dict[str, list[tuple[float, float]]] = {}
        self.open: set[str] = set()
        self.out: list[tuple] = []
        if not self.after and not self.keyed:
            self.buckets[""] = {"start": 0.0, "end": self.within, "count": 0, "last": None}

    def arms(self, name: str) -> bool:
        return _name_matches(name, self.after)

    def expects(self, name: str) -> bool:
        return not self.expect or _name_matches(name, self.expect)

    def deadlines(self, t: float) -> None:
        while due := [(b["end"], k) for k, b in self.buckets.items() if b["end"] <= t]:
            end, key = min(due)
            bucket = self.buckets.pop(key)
            fired = bucket["count"] < self.threshold
            if fired:
                self.out.append((end, "triggered", key, bucket["last"]))
                self.open.add(key)
            elif self.keyed or self.after:
                continue  # satisfied: forgotten
            if not self.after:  # the next window follows at once
                start = self.next_start(end, t, fired)
                self.buckets[key] = {"start": start, "end": start + self.within, "count": 0,
                                     "last": None}

    def next_start(self, end: float, t: float, fired: bool) -> float:
        return end

    def _open(self, key: str, start: float, end: float, count: int, last: tuple,
              now: float) -> dict:
        bucket = {"start": start, "end": end, "count": count, "last": last}
        kept = []
        for occurred, until in self.held.pop(key, []):
            if until <= now:
                continue
            if bucket["start"] <= occurred < bucket["end"]:
                bucket["count"] += 1
            else:
                kept.append((occurred, until))
        if kept:
            self.held[key] = kept
        self.buckets[key] = bucket
        return bucket

    def event(self, name: str, t: float, rid: str) -> None:
        self.deadlines(t)
        key = rid if self.keyed else ""
        ev = (name, t)
        bucket = None
        if self.after and self.arms(name):
            bucket = self.buckets.get(key)
            if bucket is None:
                bucket = self._open(key, t, t + self.within, -1 if self.expects(name) else 0,
                                    ev, t)
            else:
                bucket["last"] = ev
        elif not self.after and self.expects(name) and key not in self.buckets:
            bucket = self._open(key, t - LOOKBACK, t + self.within, 0, ev, t)
        if not self.expects(name):
            return
        if key in self.open:
            self.open.discard(key)
            self.out.append((t, "resolved", key, ev))
        bucket = bucket or self.buckets.get(key)
        if bucket is None:
            if self.after:
                self.held.setdefault(key, []).append((t, t + HELD_TTL))
            return
        if not bucket["start"] <= t < bucket["end"]:
            return
        bucket["count"] += 1
        bucket["last"] = ev
        if self.after and bucket["count"] >= self.threshold and self.arms(name):
            self._open(key, t, t + self.within, 0, ev, t)  # a heartbeat restarts the window


def random_proactive(rng: random.Random) -> dict:
    trigger: dict = {"type": "event", "posture": "Proactive", "within": rng.choice([10, 30, 60]),
                     "threshold": rng.choice([1, 1, 2, 3])}
    shape = rng.choice(["plain", "sla", "heartbeat", "heartbeat+terminal", "negated"])
    trigger.update({"plain": {"expect": ["b"]},
                    "sla": {"after": ["a"], "expect": ["b"]},
                    "heartbeat": {"after": ["a"], "expect": ["a"]},
                    "heartbeat+terminal": {"after": ["a"], "expect": ["a", "b"]},
                    "negated": {"after": ["a"], "expect": ["!a"],
                                "match": {"prefect.resource.id": "r*"}}}[shape])
    if rng.random() < 0.5:
        trigger["for_each"] = ["prefect.resource.id"]
    return trigger


def _step(tl: Timeline, t: float) -> None:
    """Deadlines one at a time up to t, as the daemon's timer and `tocsin replay` do."""
    while (deadline := tl.engine.next_deadline()) is not None and deadline <= T0.timestamp() + t:
        tl.firings.extend(tl.engine.advance(deadline))


def _proactive_firings(tl: Timeline) -> list[tuple]:
    """The engine's firings in ProactiveReference's shape (seconds from T0), sorted."""
    def ev(e):
        return (e.event, round(e.occurred.timestamp() - T0.timestamp(), 3)) if e else None

    return sorted((round(f.at.timestamp() - T0.timestamp(), 3), f.state,
                   f.triggering_labels.get("prefect.resource.id", ""), ev(f.triggering_event))
                  for f in tl.firings)


@pytest.mark.parametrize("seed", range(40))
def test_proactive_engine_matches_the_reference(seed):
    rng = random.Random(seed)
    for _ in range(10):
        trigger = random_proactive(rng)
        tl = Timeline(trigger)
        ref = ProactiveReference(trigger)
        t = 0.0
        for _ in range(40):
            t += rng.choice([0.5, 1, 3, 7, 12, 25, 40, 70])
            name, rid = rng.choice("aabbc"), rng.choice(["r1", "r2"])
            _step(tl, t)
            tl.emit(name, t, rid)
            ref.event(name, t, rid)
        _step(tl, t + 200)
        ref.deadlines(t + 200)
        assert _proactive_firings(tl) == sorted(ref.out), trigger


# -- composites (§6) ------------------------------------------------------------------------------
class CompositeReference:
    """evaluate_composite_trigger over immediate leaves (each fires on every matching event):
    one slot per child, the latest wins, `within` on processing time, the single-firing
    shortcut, sequence order by firing time."""

    def __init__(self, kind: str, names: list[str], require, within) -> None:
        self.kind, self.names, self.within = kind, names, within
        self.required = (len(names) if kind == "sequence" or require == "all"
                         else 1 if require == "any" else require)
        self.slots: dict[int, tuple[float, int]] = {}
        self.seq = 0
        self.out: list[tuple] = []

    def event(self, name: str, t: float) -> None:
        for child, expected in enumerate(self.names):
            if expected != name:
                continue
            if self.required == 1 and (self.kind == "compound" or len(self.names) == 1):
                self.out.append((t, (child,)))
                continue
            if self.within is not None:
                self.slots = {c: s for c, s in self.slots.items() if s[0] >= t - self.within}
            self.seq += 1
            self.slots[child] = (t, self.seq)
            order = tuple(c for c, _ in sorted(self.slots.items(), key=lambda item: item[1]))
            if (order == tuple(range(len(self.names))) if self.kind == "sequence"
                    else len(self.slots) >= self.required):
                self.out.append((t, order))
                self.slots = {}


@pytest.mark.parametrize("seed", range(20))
def test_composites_match_the_reference(seed):
    rng = random.Random(seed)
    for _ in range(20):
        kind = rng.choice(["compound", "sequence"])
        names = [rng.choice("abc") for _ in range(rng.choice([1, 2, 3]))]
        require = rng.choice(["any", "all", 1, 2, 3])
        if isinstance(require, int):
            require = min(require, len(names))
        within = rng.choice([None, 0, 5, 20])
        trigger = {"type": kind, "within": within,
                   "triggers": [{"type": "event", "expect": [n], "posture": "Reactive"}
                                for n in names]}
        if kind == "compound":
            trigger["require"] = require
        tl = Timeline(trigger)
        ref = CompositeReference(kind, names, require, within)
        child_ids = [c.id for c in tl.automations[0].trigger.triggers]
        t = 0.0
        for _ in range(30):
            t += rng.choice([0.5, 1, 2, 4, 8, 30])
            name = rng.choice("abcd")
            tl.emit(name, t)
            ref.event(name, t)
        got = [(round(f.at.timestamp() - T0.timestamp(), 3),
                tuple(child_ids.index(c.trigger_id) for c in f.triggering_firings))
               for f in tl.firings]
        assert got == ref.out, trigger


class JumpingReference(ProactiveReference):
    """The same, when time is only seen at events (the daemon was down or stalled between
    them): a window that ends unsatisfied fires once; if the next one is then already over,
    windows restart from now instead of firing once per missed window."""

    def next_start(self, end: float, t: float, fired: bool) -> float:
        return t if fired and end + self.within < t else end


@pytest.mark.parametrize("seed", range(20))
def test_proactive_engine_with_clock_jumps_matches_the_reference(seed):
    rng = random.Random(1000 + seed)
    for _ in range(10):
        trigger = random_proactive(rng)
        tl = Timeline(trigger)
        ref = JumpingReference(trigger)
        t = 0.0
        for _ in range(40):
            t += rng.choice([0.5, 1, 3, 7, 12, 25, 40, 70, 200])
            name, rid = rng.choice("aabbc"), rng.choice(["r1", "r2"])
            tl.emit(name, t, rid)  # no deadline in between is seen on its own
            ref.event(name, t, rid)
        tl.tick(t + 200)
        ref.deadlines(t + 200)
        assert _proactive_firings(tl) == sorted(ref.out), trigger
