"""Metric triggers over flow runs, on virtual time in the pure engine (no daemon, no sleep):
the flow-run state events are the ones the jobs part emits."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from tocsin.automations.engine import Engine
from tocsin.automations.model import parse_automation
from tocsin.errors import InvalidInput
from tocsin.jobs.events import flow_run_state_event
from tocsin.jobs.model import FlowRun, State

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def metric_automation(name: str, operator: str, threshold: float, **query) -> dict:
    return {
        "name": f"{name} {operator} {threshold}",
        "trigger": {"type": "metric", "posture": "Metric",
                    "match": {"prefect.resource.id": "prefect.flow-run.*"},
                    "match_related": {"prefect.resource.role": "deployment",
                                      "prefect.resource.name": "etl"},
                    "metric": {"name": name, "operator": operator, "threshold": threshold,
                               "range": 600, "firing_for": 300, **query}},
        "actions": [{"type": "do-nothing"}],
    }


def load(engine: Engine, data: dict, at: datetime):
    automation = parse_automation(data)
    automation.id = "a1"
    engine.load(automation, at.timestamp())
    return automation


def run_events(i: int, start: datetime, final: str, *, deployment: str = "etl",
               runtime: float = 10.0, late: float = 0.0) -> list:
    """Scheduled -> Pending -> Running -> final for one run, as the jobs part emits them."""
    run = FlowRun(id=f"00000000-0000-0000-0000-{i:012d}", name=f"run-{i}", flow_id="f",
                  flow_name="flow", deployment_id="d", deployment_name=deployment,
                  state=State.named("Scheduled", at=start), expected_start_time=start)
    events = [flow_run_state_event(run, None)]
    for name, at in (("Pending", start + timedelta(seconds=late)),
                     ("Running", start + timedelta(seconds=late + 0.1)),
                     (final, start + timedelta(seconds=late + 0.1 + runtime))):
        previous, run.state = run.state, State.named(name, at=at)
        events.append(flow_run_state_event(run, previous))
    return events


def feed(engine: Engine, events: list) -> list:
    out = []
    for e in sorted(events, key=lambda e: e.occurred):
        out += engine.process(e, e.occurred.timestamp())
    return out


def test_successes_below_half_over_ten_runs_fires_after_firing_for_and_resolves():
    engine = Engine()
    load(engine, metric_automation("successes", "<", 0.5), T0)
    events = []
    for i in range(10):  # 6 of 10 fail: 40 % successes
        final = "Failed" if i < 6 else "Completed"
        events += run_events(i, T0 + timedelta(seconds=10 * i), final)
    # Runs of another deployment do not count, even all failing.
    events += run_events(99, T0, "Crashed", deployment="other")
    assert feed(engine, events) == []
    metric = engine.metric("a1")
    assert metric.state.value == pytest.approx(0.4)
    assert engine.advance((T0 + timedelta(seconds=300)).timestamp()) == []
    deadline = engine.next_deadline()
    assert deadline is not None
    [fired] = engine.advance((T0 + timedelta(seconds=500)).timestamp())
    assert fired.state == "triggered" and fired.triggering_value == pytest.approx(0.4)
    assert fired.at.timestamp() == pytest.approx(metric_breach_start(events) + 300)

    # Ten good runs bring successes to 14/20 = 70 %: out of breach, resolved 300 s later.
    later = T0 + timedelta(seconds=520)
    good = [e for i in range(10) for e in run_events(100 + i, later + timedelta(seconds=i),
                                                     "Completed")]
    assert feed(engine, good) == []
    assert metric.state.value == pytest.approx(14 / 20)
    [resolved] = engine.advance((later + timedelta(seconds=400)).timestamp())
    assert resolved.state == "resolved"
    assert resolved.at.timestamp() == pytest.approx(good[-1].occurred.timestamp() + 300)


def metric_breach_start(events: list) -> float:
    """When successes first fell below 50 %: the first final event after which the finished
    runs of `etl` were mostly failures."""
    ok = done = 0
    for e in sorted(events, key=lambda e: e.occurred):
        related = {r["prefect.resource.role"]: r for r in e.related}
        if related["deployment"]["prefect.resource.name"] != "etl":
            continue
        kind = e.resource["prefect.state-type"]
        if kind in ("COMPLETED", "FAILED"):
            done += 1
            ok += kind == "COMPLETED"
            if ok / done < 0.5:
                return e.occurred.timestamp()
    raise AssertionError("never in breach")


def test_a_breach_shorter_than_firing_for_does_not_fire():
    engine = Engine()
    load(engine, metric_automation("successes", "<", 0.5), T0)
    feed(engine, run_events(1, T0, "Failed"))
    good = [e for i in range(3) for e in run_events(10 + i, T0 + timedelta(seconds=100 + i),
                                                    "Completed")]
    feed(engine, good)
    assert engine.advance((T0 + timedelta(hours=1)).timestamp()) == []


def test_duration_and_lateness_metrics():
    engine = Engine()
    load(engine, metric_automation("duration", ">", 60), T0)
    feed(engine, run_events(1, T0, "Completed", runtime=120))
    [fired] = engine.advance((T0 + timedelta(seconds=500)).timestamp())
    assert fired.triggering_value == pytest.approx(120.0)

    late = Engine()
    load(late, metric_automation("lateness", ">=", 30), T0)
    feed(late, run_events(1, T0, "Completed", late=45))
    assert late.metric("a1").state.value == pytest.approx(45.0)
    [fired] = late.advance((T0 + timedelta(seconds=400)).timestamp())
    assert fired.state == "triggered"
    # A run that never starts keeps getting later: lateness grows without any event.
    waiting = Engine()
    load(waiting, metric_automation("lateness", ">", 100), T0)
    feed(waiting, run_events(2, T0, "Completed")[:1])  # Scheduled only
    fired = waiting.advance((T0 + timedelta(seconds=450)).timestamp())
    assert [f.state for f in fired] == ["triggered"]
    assert fired[0].at.timestamp() == pytest.approx(T0.timestamp() + 100 + 300, abs=5.1)


def test_metric_state_survives_export_and_restore():
    from tocsin.automations import persist

    engine = Engine()
    automation = load(engine, metric_automation("successes", "<", 0.5), T0)
    feed(engine, run_events(1, T0, "Failed"))
    rows = [(c.kind, persist._key_text(c.kind, c.key), msgspec.json.encode(c.record))
            for c in engine.take_changes() if c.record is not None]
    fresh = Engine()
    fresh.load(automation, T0.timestamp())
    persist.restore(fresh, rows)
    [fired] = fresh.advance((T0 + timedelta(seconds=400)).timestamp())
    assert fired.state == "triggered"


def test_metric_validation_names_the_field():
    bad = metric_automation("successes", "≈", 0.5, range=60)
    with pytest.raises(InvalidInput) as exc:
        parse_automation(bad)
    paths = {p for p, _ in exc.value.errors}
    assert {"trigger.metric.operator", "trigger.metric.range"} <= paths
    nested = {"name": "n", "actions": [{"type": "do-nothing"}],
              "trigger": {"type": "compound", "require": "any",
                          "triggers": [metric_automation("successes", "<", 1)["trigger"]]}}
    with pytest.raises(InvalidInput, match="must be the automation's trigger"):
        parse_automation(nested)


def test_replay_prints_the_metric_firing_and_resolution(tmp_path):
    events = []
    for i in range(4):
        events += run_events(i, T0 + timedelta(seconds=i), "Failed")
    events += [e for i in range(10)
               for e in run_events(10 + i, T0 + timedelta(seconds=700 + i), "Completed")]
    (tmp_path / "events.jsonl").write_text("".join(
        msgspec.json.encode(e).decode() + "\n" for e in events))
    (tmp_path / "auto.json").write_text(json.dumps(metric_automation("successes", "<", 0.5)))
    until = (T0 + timedelta(seconds=1200)).isoformat()
    out = subprocess.run([sys.executable, "-m", "tocsin.cli.main", "replay", "--automations",
                          str(tmp_path / "auto.json"), "--events", str(tmp_path / "events.jsonl"),
                          "--until", until], capture_output=True, text=True, timeout=60,
                         check=False)
    assert out.returncode == 0, out.stderr
    states = [json.loads(line)["state"] for line in out.stdout.splitlines()]
    assert states == ["triggered", "resolved"]


def test_lateness_counts_from_the_expected_start_in_the_scheduled_event():
    engine = Engine()
    load(engine, metric_automation("lateness", ">", 50), T0)
    events = run_events(1, T0, "Completed", late=20)
    events[0].payload["validated_state"]["scheduled_time"] = (
        T0 - timedelta(seconds=60)).isoformat()  # scheduled 60 s before it was created
    feed(engine, events)
    assert engine.metric("a1").state.value == pytest.approx(80.0)


def test_a_deployment_metric_trigger_becomes_an_owned_automation():
    from tocsin.events import DeploymentMetricTrigger
    from tocsin.jobs.model import Deployment
    from tocsin.jobs.triggers import parse_all

    trigger = DeploymentMetricTrigger(
        match={"prefect.resource.id": "prefect.flow-run.*"},
        metric={"name": "duration", "operator": ">", "threshold": 30,
                "range": timedelta(minutes=10), "firing_for": timedelta(minutes=5)},
        parameters={"why": "slow"})
    dep = Deployment(id="3f0f0c44-6c55-4c43-9a3a-5b7b3e7a8d11", name="etl", flow_id="f",
                     flow_name="etl", command="true", triggers=[trigger.to_dict()])
    [automation] = parse_all(dep)
    assert automation.trigger.metric.range == 600.0
    assert automation.owner_resource == f"prefect.deployment.{dep.id}"
    assert automation.actions[0].parameters == {"why": "slow"}
