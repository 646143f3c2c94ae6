"""The engine in a real daemon, in real time: apply, emit, see the firing; survive restarts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tocsin.automations import Automation, EventTrigger
from tocsin.client.aio import AsyncClient
from tocsin.client.sync import build_event
from tocsin.errors import ApiError, TocsinError

SAMPLES = Path(__file__).parent.parent / "samples" / "automations"
MONAX = {"genus": "Marmota", "species": "monax"}


def cli(daemon, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tocsin.cli.main", "--socket", str(daemon.socket),
                           *args], capture_output=True, text=True, timeout=30,
                          check=False)


def walk(i: int, occurred: datetime | None = None) -> dict:
    return build_event("animal.walked", {"prefect.resource.id": f"animal.{i}", **MONAX},
                       occurred=occurred)


def triggered(daemon, name: str) -> list[dict]:
    with daemon.client() as c:
        events = c.filter_events(names=["prefect.automation.triggered"], limit=100)["events"]
    return [e for e in events if e["resource"].get("prefect.resource.name") == name]


def _id(daemon, name: str) -> str:
    with daemon.client() as c:
        return c.request("GET", f"/automations/name/{name}")["id"]


def wait_for(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    return predicate()


async def test_apply_emit_and_see_the_firing_on_events_out(daemon):
    done = cli(daemon, "automation", "apply", "-f", str(SAMPLES))
    assert done.returncode == 0, done.stderr
    assert "created automation woodchonk" in done.stdout
    async with AsyncClient(daemon.socket) as client:
        stream = client.stream({"names": ["prefect.automation.*"]})

        async def first_triggered() -> dict:
            async for event in stream:
                if event["event"] == "prefect.automation.triggered":
                    return event
            raise AssertionError("stream ended")

        waiter = asyncio.ensure_future(first_triggered())
        await asyncio.sleep(0.2)
        walks = [walk(i) for i in range(3)]
        for w in walks:
            await client.emit([w])
        event = await asyncio.wait_for(waiter, 5)
    assert event["resource"]["prefect.resource.name"] == "woodchonk"
    assert event["resource"]["prefect.posture"] == "Reactive"
    assert event["related"] == [{"prefect.resource.id": f"prefect.event.{walks[2]['id']}",
                                 "prefect.resource.role": "triggering-event"}]
    assert event["payload"]["triggering_event"]["id"] == walks[2]["id"]
    again = cli(daemon, "automation", "apply", "-f", str(SAMPLES / "woodchonk.yaml"))
    assert "unchanged automation woodchonk" in again.stdout
    changed = daemon.dir / "woodchonk.yaml"
    changed.write_text((SAMPLES / "woodchonk.yaml").read_text().replace("threshold: 3",
                                                                        "threshold: 4"))
    assert "updated automation woodchonk" in cli(daemon, "automation", "apply", "-f", str(changed)).stdout


@pytest.mark.parametrize("how", ["restart", "kill9"])
def test_an_open_window_survives_a_restart(daemon, how):
    assert cli(daemon, "automation", "apply", "-f", str(SAMPLES / "woodchonk.yaml")).returncode == 0
    with daemon.client() as c:
        c.emit([walk(1), walk(2)])
    time.sleep(0.3)  # let the engine commit its state
    daemon.restart() if how == "restart" else (daemon.kill9(), daemon.start())
    inspect = cli(daemon, "automation", "inspect", "woodchonk")
    assert "2/3 counted" in inspect.stdout, inspect.stdout
    with daemon.client() as c:
        c.emit([walk(3)])
    assert wait_for(lambda: triggered(daemon, "woodchonk"))


def test_a_deadline_that_passed_while_down_fires_at_start_up(daemon):
    stuck = SAMPLES / "stuck-flow.yaml"
    text = stuck.read_text().replace("within: PT30M", "within: 10")
    path = daemon.dir / "stuck.yaml"
    path.write_text(text)
    assert cli(daemon, "automation", "apply", "-f", str(path)).returncode == 0
    run = "prefect.flow-run.6f1c2a0e-3b7d-4c55-9a51-7d1e0c2b9f11"
    started = datetime.now(UTC) - timedelta(seconds=9)
    with daemon.client() as c:
        c.emit([build_event("prefect.flow-run.Running", {"prefect.resource.id": run},
                            occurred=started)])
    time.sleep(0.3)
    daemon.kill9()
    time.sleep(1.0)  # the deadline passes while nothing runs
    daemon.start()
    fired = wait_for(lambda: triggered(daemon, "stuck-in-running"))
    assert fired[0]["payload"]["triggering_labels"] == {"prefect.resource.id": run}


def test_events_committed_but_not_evaluated_are_evaluated_at_start_up(daemon):
    """As after a crash between the events' commit and the engine's: the engine catches up."""
    assert cli(daemon, "automation", "apply", "-f", str(SAMPLES / "woodchonk.yaml")).returncode == 0
    daemon.stop()
    from tocsin.events.model import event_from_dict
    from tocsin.events.store import EventStore

    async def append() -> None:
        store = EventStore(daemon.home / "tocsin.db")
        await store.open()
        await store.append([event_from_dict(walk(i)) for i in range(3)])
        await store.close()

    asyncio.run(append())
    daemon.start()
    assert wait_for(lambda: triggered(daemon, "woodchonk"))


def test_proactive_fires_on_time_in_real_time(daemon):
    path = daemon.dir / "quiet.yaml"
    path.write_text("name: quiet\ntrigger: {expect: [beat], posture: Proactive, "
                    "after: [beat], for_each: [prefect.resource.id], within: 10}\n"
                    "actions: [{type: do-nothing}]\n")
    assert cli(daemon, "automation", "apply", "-f", str(path)).returncode == 0
    started = datetime.now(UTC) - timedelta(seconds=9)
    with daemon.client() as c:
        c.emit([build_event("beat", {"prefect.resource.id": "svc.1"}, occurred=started)])
    fired = wait_for(lambda: triggered(daemon, "quiet"), timeout=5)
    assert fired
    late = datetime.fromisoformat(fired[0]["received"]) - (started + timedelta(seconds=10))
    assert late < timedelta(milliseconds=500)


def test_python_automation_class_round_trip(daemon):
    socket = daemon.socket
    a = Automation(name="py", trigger=EventTrigger(expect=["x"], threshold=2, within=60),
                   actions=[{"type": "do-nothing"}]).create(socket)
    assert a.id and a.created
    got = Automation.read(name="py", socket_path=socket)
    assert got.id == a.id and got.trigger.threshold == 2
    got.pause(socket)
    assert Automation.read(id=a.id, socket_path=socket).enabled is False
    got.resume(socket)
    got.description = "changed"
    got.update(socket)
    assert Automation.read(id=a.id, socket_path=socket).description == "changed"
    assert got.delete(socket)
    with pytest.raises(TocsinError):
        Automation.read(name="py", socket_path=socket)


def test_pause_keeps_window_state_and_replace_resets_it(daemon):
    assert cli(daemon, "automation", "apply", "-f", str(SAMPLES / "woodchonk.yaml")).returncode == 0
    with daemon.client() as c:
        c.emit([walk(1), walk(2)])
        time.sleep(0.3)
        assert cli(daemon, "automation", "pause", "woodchonk").returncode == 0
        c.emit([walk(3)])  # not seen: paused
        time.sleep(0.3)
        assert cli(daemon, "automation", "resume", "woodchonk").returncode == 0
        assert "2/3 counted" in cli(daemon, "automation", "inspect", "woodchonk").stdout
        assert triggered(daemon, "woodchonk") == []
        c.request("PUT", f"/automations/{_id(daemon, 'woodchonk')}",
                  {"name": "woodchonk", "trigger": {"expect": ["animal.walked"],
                                                    "match": MONAX, "threshold": 3,
                                                    "within": 10}, "actions": []})
        assert "open windows: none" in cli(daemon, "automation", "inspect", "woodchonk").stdout
        assert cli(daemon, "automation", "delete", "woodchonk").returncode == 0
        listed = cli(daemon, "automation", "ls", "--json")
        assert listed.stdout.strip() == "[]"


def test_api_validate_and_errors(daemon):
    with daemon.client() as c:
        result = c.request("POST", "/automations/validate",
                           {"yaml": "name: v\ntrigger:\n  expect: [x]\n  within: -1\nactions: []\n"})
        assert result["valid"] is False
        assert result["errors"][0]["loc"] == "trigger.within" and result["errors"][0]["line"] == 4
        ok = c.request("POST", "/automations/validate",
                       {"name": "v", "trigger": {"expect": ["x"]}, "actions": []})
        assert ok["valid"] and ok["automations"][0]["trigger"]["posture"] == "Reactive"
        with pytest.raises(ApiError) as info:
            c.request("POST", "/automations/", {"name": "v", "trigger": {}, "actions": []})
        assert info.value.status == 422
        assert c.request("POST", "/automations/filter") == []
        created = c.request("POST", "/automations/",
                            {"name": "v", "trigger": {"expect": ["x"]}, "actions": []})
        state = c.request("GET", f"/automations/{created['id']}/state")
        assert state["state"] == "waiting" and state["enabled"] is True
        with pytest.raises(ApiError) as info:
            c.request("GET", "/automations/nope")
        assert info.value.status == 404
        c.request("PATCH", f"/automations/{created['id']}", {"enabled": False})
        c.request("DELETE", f"/automations/{created['id']}")
        names = [e["event"] for e in c.filter_events(names=["prefect.automation.*"],
                                                      order="oldest")["events"]]
        assert names == ["prefect.automation.created", "prefect.automation.updated",
                         "prefect.automation.deleted"]


def test_pause_and_resume_events_carry_the_new_enabled(daemon):
    assert cli(daemon, "automation", "apply", "-f", str(SAMPLES / "woodchonk.yaml")).returncode == 0
    assert cli(daemon, "automation", "pause", "woodchonk").returncode == 0
    assert cli(daemon, "automation", "resume", "woodchonk").returncode == 0
    with daemon.client() as c:
        events = c.filter_events(names=["prefect.automation.updated"], order="oldest",
                                 limit=10)["events"]
    assert [e["payload"]["enabled"] for e in events] == [False, True]


async def test_a_body_that_is_not_json_is_refused_at_the_root_like_everywhere(daemon):
    """The automations API names the whole body `$`, as the events API does."""
    import aiohttp

    connector = aiohttp.UnixConnector(path=str(daemon.socket))
    async with aiohttp.ClientSession(connector=connector) as s:
        for path in ("/automations/", "/events"):
            async with s.post(f"http://tocsin{path}", data=b"{nope") as answer:
                assert answer.status in (400, 422)
                detail = (await answer.json())["detail"]
                assert detail[0]["loc"] == "$" and "not valid JSON" in detail[0]["msg"], path


def test_apply_is_one_request_all_or_nothing(daemon):
    """POST /automations/apply: created / unchanged / updated by name, in order; one invalid
    automation or a repeated name refuses the lot and stores nothing."""
    def auto(name: str, expect: str) -> dict:
        return {"name": name, "actions": [], "trigger": {"expect": [expect]}}

    with daemon.client() as c:
        first = c.request("POST", "/automations/apply", [auto("a", "x"), auto("b", "y")])
        assert [(r["name"], r["result"]) for r in first] == [("a", "created"), ("b", "created")]
        again = c.request("POST", "/automations/apply", [auto("a", "x"), auto("b", "z")])
        assert [r["result"] for r in again] == ["unchanged", "updated"]
        assert [r["id"] for r in again] == [r["id"] for r in first]
        bad = {"name": "c", "actions": [], "trigger": {"expect": ["x"], "posture": "Sideways"}}
        with pytest.raises(ApiError) as info:
            c.request("POST", "/automations/apply", [auto("d", "x"), bad])
        assert "[1].trigger.posture" in str(info.value.detail)
        with pytest.raises(ApiError) as info:
            c.request("POST", "/automations/apply", [auto("e", "x"), auto("e", "y")])
        assert "[1].name" in str(info.value.detail)
        names = sorted(a["name"] for a in c.request("POST", "/automations/filter", {}))
        assert names == ["a", "b"]
