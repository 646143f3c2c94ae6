"""Schedules, state events and project files, on virtual time with a real SQLite store and no
daemon: the scheduler and the service take the clock as an argument."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tocsin.errors import Conflict, InvalidInput
from tocsin.events.store import EventStore
from tocsin.jobs import scheduler
from tocsin.jobs.events import flow_run_state_event
from tocsin.jobs.model import Schedule
from tocsin.jobs.project import check_spec, load_project
from tocsin.jobs.service import SCHEMA, JobsService
from tocsin.jobs.worker import Worker

SAMPLES = Path(__file__).parent.parent / "samples" / "project"
T0 = datetime(2026, 1, 15, 10, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def jobs():
    """A service and worker over a real event store, on a virtual clock (worker not started:
    the test drives `schedule_tick` itself)."""
    d = Path(tempfile.mkdtemp(dir="/tmp"))
    store = EventStore(d / "t.db")
    await store.open([SCHEMA])
    clock = Clock(T0)

    async def ingest(events, extra=None):
        return await store.append(events, extra=extra)

    service = JobsService(ingest, clock=clock)
    worker = Worker(service, d, clock=clock)
    yield service, worker, clock, store
    await store.close()


async def events_named(store: EventStore, prefix: str) -> list:
    rows = await store.read_sql("SELECT n.name FROM events JOIN event_names AS n ON n.id = events.name "
                                "ORDER BY seq")
    return [r[0] for r in rows if r[0].startswith(prefix)]


def test_cron_with_timezone_gives_utc_times():
    s = Schedule(cron="0 2 * * *", timezone="Europe/Paris")
    got = scheduler.times_between(s, T0, T0 + timedelta(days=2))
    assert got == [datetime(2026, 1, 16, 1, 0, tzinfo=UTC),
                   datetime(2026, 1, 17, 1, 0, tzinfo=UTC)]


def test_interval_schedule_counts_from_its_anchor_and_caps_catch_up():
    s = Schedule(interval=60)
    got = scheduler.times_between(s, T0, T0 + timedelta(seconds=150), anchor=T0)
    assert got == [T0 + timedelta(seconds=60), T0 + timedelta(seconds=120)]
    many = scheduler.times_between(s, T0, T0 + timedelta(hours=5), anchor=T0)
    assert len(many) == scheduler.MAX_CATCH_UP and many[-1] == T0 + timedelta(hours=5)


@pytest.mark.parametrize("schedule, problem", [
    (Schedule(cron="61 * * * *"), "not a valid cron"),
    (Schedule(cron="* * * * *", timezone="Mars/Olympus"), "not a known IANA time zone"),
    (Schedule(), "exactly one of"),
    (Schedule(interval=-5), "positive"),
])
def test_bad_schedules_say_why(schedule, problem):
    assert problem in scheduler.check_schedule(schedule)


async def test_cron_creates_runs_on_time_and_pause_stops_them(jobs):
    service, worker, clock, store = jobs
    dep = await service.apply_deployment(check_spec(
        {"name": "every5", "command": "true", "schedules": [{"cron": "*/5 * * * *"}]}))
    clock.now = T0 + timedelta(minutes=4, seconds=59)
    assert await worker.schedule_tick(clock.now) == []
    clock.now = T0 + timedelta(minutes=5)
    [run] = await worker.schedule_tick(clock.now)
    assert run.expected_start_time == T0 + timedelta(minutes=5)
    assert run.state.name == "Scheduled" and run.deployment_id == dep.id

    await service.set_deployment_paused(dep, True)
    clock.now = T0 + timedelta(minutes=12)
    assert await worker.schedule_tick(clock.now) == []

    await service.set_deployment_paused(dep, False)  # resumes from now: 10:10 is not backfilled
    clock.now = T0 + timedelta(minutes=15)
    created = await worker.schedule_tick(clock.now)
    assert [r.expected_start_time for r in created] == [T0 + timedelta(minutes=15)]
    # Neither run was started (no worker loop here), so the first became Late after 15 s.
    assert run.state.name == "Late" and run.state.type == "SCHEDULED"
    names = await events_named(store, "prefect.flow-run.")
    assert names == ["prefect.flow-run.Scheduled", "prefect.flow-run.Late",
                     "prefect.flow-run.Scheduled"]


async def test_state_events_have_prefects_shape(jobs):
    service, _worker, clock, store = jobs
    dep = await service.apply_deployment(check_spec(
        {"name": "shape", "entrypoint": "f.py:fn", "tags": ["etl"],
         "work_pool": {"name": "pool-a", "work_queue_name": "q1"}}))
    run = await service.create_run(dep, parameters={"x": 1}, tags=["adhoc"])
    initial = run.state
    clock.now += timedelta(seconds=1)
    await service.set_state(run, "Pending")
    event = flow_run_state_event(run, initial, dep.tags)
    assert event.event == "prefect.flow-run.Pending"
    assert str(event.id) == run.state.id and str(event.follows) == initial.id
    assert event.resource == {
        "prefect.resource.id": f"prefect.flow-run.{run.id}",
        "prefect.resource.name": run.name, "prefect.run-count": "0",
        "prefect.state-message": "", "prefect.state-name": "Pending",
        "prefect.state-timestamp": run.state.timestamp.isoformat(),
        "prefect.state-type": "PENDING"}
    roles = [(r["prefect.resource.role"], r["prefect.resource.id"].rsplit(".", 1)[0])
             for r in event.related]
    assert roles == [("flow", "prefect.flow"), ("deployment", "prefect.deployment"),
                     ("work-queue", "prefect.work-queue"), ("work-pool", "prefect.work-pool"),
                     ("tag", "prefect.tag"), ("tag", "prefect.tag")]
    assert event.related[1]["prefect.resource.name"] == "shape"
    assert event.related[3]["prefect.work-pool.type"] == "process"
    assert [r["prefect.resource.id"] for r in event.related[4:]] == ["prefect.tag.adhoc",
                                                                    "prefect.tag.etl"]
    assert event.payload["intended"] == {"from": "SCHEDULED", "to": "PENDING"}
    stored = await store.get(run.state.id)
    assert stored is not None and stored.event == "prefect.flow-run.Pending"


async def test_finished_run_refuses_a_new_state_unless_forced(jobs):
    service, _worker, _clock, _store = jobs
    dep = await service.apply_deployment(check_spec({"name": "d", "command": "true"}))
    run = await service.create_run(dep)
    await service.set_state(run, "Completed")
    with pytest.raises(Conflict, match="already Completed"):
        await service.set_state(run, "Running", force=False)
    await service.set_state(run, "Failed", force=True)
    assert run.state.type == "FAILED"


async def test_pool_pause_and_queue_limits_gate_dispatch(jobs):
    service, worker, clock, store = jobs
    dep = await service.apply_deployment(check_spec(
        {"name": "d", "command": "true", "work_pool": {"name": "p"}}))
    pool = service.get_pool("p")
    queue = service.get_queue("default", "p")
    await service.update_queue(queue, {"concurrency_limit": 1})
    a = await service.create_run(dep)
    b = await service.create_run(dep)
    assert [r.id for r, _ in worker.due_runs(clock.now)] == [a.id]
    await service.update_pool(pool, {"is_paused": True})
    assert worker.due_runs(clock.now) == []
    await service.update_pool(pool, {"is_paused": False})
    await service.set_state(a, "Running")
    assert worker.due_runs(clock.now) == []  # the queue's one slot is taken
    await service.set_state(a, "Completed")
    assert [r.id for r, _ in worker.due_runs(clock.now)] == [b.id]
    names = await events_named(store, "prefect.work-pool.")
    # No worker is polling in this test, so the pool goes paused -> not-ready (not ready).
    assert names == ["prefect.work-pool.paused", "prefect.work-pool.not-ready"]


async def test_queue_priority_orders_dispatch(jobs):
    service, worker, clock, _store = jobs
    low = await service.apply_deployment(check_spec(
        {"name": "low", "command": "true", "work_pool": {"name": "p", "work_queue_name": "low"}}))
    high = await service.apply_deployment(check_spec(
        {"name": "high", "command": "true", "work_pool": {"name": "p", "work_queue_name": "hi"}}))
    await service.update_queue(service.get_queue("hi", "p"), {"priority": 0})
    first = await service.create_run(low)
    second = await service.create_run(high)
    assert [r.id for r, _ in worker.due_runs(clock.now)] == [second.id, first.id]


def test_sample_project_loads_with_flow_names_from_decorators():
    specs = {s["name"]: s for s in load_project(SAMPLES / "tocsin.yaml")}
    assert specs["downstream_deployment"]["flow_name"] == "downstream-load"
    assert specs["upstream_deployment"]["flow_name"] == "upstream"
    assert specs["upstream_deployment"]["path"] == str(SAMPLES.resolve())
    assert specs["nightly-report"]["schedules"][0]["timezone"] == "Europe/Paris"


def test_project_errors_name_the_deployment_and_field(tmp_path):
    (tmp_path / "tocsin.yaml").write_text(
        "deployments:\n  - name: a\n    command: 'true'\n    schedules:\n      - cron: 'nope'\n")
    with pytest.raises(InvalidInput) as exc:
        load_project(tmp_path / "tocsin.yaml")
    assert exc.value.errors[0][0] == "tocsin.yaml: deployments[0].schedules[0]"
    assert "not a valid cron" in exc.value.errors[0][1]
    (tmp_path / "f.py").write_text("def other():\n    pass\n")
    (tmp_path / "tocsin.yaml").write_text(
        "deployments:\n  - name: a\n    entrypoint: f.py:missing\n")
    with pytest.raises(InvalidInput, match="defines no function 'missing'"):
        load_project(tmp_path / "tocsin.yaml")
    (tmp_path / "tocsin.yaml").write_text("deployments:\n  - name: a\n    entrypont: f.py:x\n")
    with pytest.raises(InvalidInput, match="entrypont"):
        load_project(tmp_path / "tocsin.yaml")
