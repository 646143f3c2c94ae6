"""Actions end to end through a real daemon subprocess and real automations: a webhook fired
by an event, blocks through the CLI, an automation pausing itself, and `kill -9` between the
firing and the delivery (delivered after restart, once)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from actions_sinks import HttpSink
from tocsin.client.sync import build_event


@pytest.fixture
def sink():
    s = HttpSink().start()
    yield s
    s.stop()


def _config(tmp: Path) -> Path:
    path = tmp / "tocsin.toml"
    path.write_text("[actions]\nretry_base_s = 0.05\nretry_max_s = 0.2\nscan_interval_s = 0.5\n")
    return path


def _tocsin(daemon, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tocsin.cli.main", "--socket",
                           str(daemon.socket), *args], capture_output=True, text=True,
                          input=stdin, timeout=30)


def _create(client, name: str, actions: list[dict], on_trigger: list[dict] | None = None) -> dict:
    return client.request("POST", "/automations/", {
        "name": name, "trigger": {"expect": ["order.created"], "posture": "Reactive"},
        "actions": actions, "actions_on_trigger": on_trigger or []})


def _emit(client, **payload) -> dict:
    event = build_event("order.created", {"prefect.resource.id": "order.42",
                                          "prefect.resource.name": "Order 42"}, payload=payload)
    client.emit([event])
    return event


def _outbox(client, n: int, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = client.request("GET", "/actions")
        if len(rows) >= n and all(r["status"] != "pending" for r in rows):
            return rows
        time.sleep(0.02)
    raise AssertionError(f"actions not finished: {client.request('GET', '/actions')}")


def test_event_fires_webhook_through_a_block_made_with_the_cli(make_daemon, tmp_path, sink):
    daemon = make_daemon(config=_config(tmp_path)).start()
    made = _tocsin(daemon, "block", "create", "hook", "--webhook", f"{sink.url}/in",
                   "--header", "Authorization: Bearer topsecret", "--header", "X-Env: test")
    assert made.returncode == 0, made.stderr
    listed = _tocsin(daemon, "block", "ls", "--json")
    blocks = json.loads(listed.stdout)
    assert blocks[0]["name"] == "hook" and blocks[0]["kind"] == "webhook"
    assert "topsecret" not in listed.stdout and "topsecret" not in daemon.log()
    with daemon.client() as client:
        _create(client, "orders", [{"type": "call-webhook", "block": "hook",
                                    "payload": {"order": "{{ event.resource.name }}",
                                                "total": "{{ event.payload.total }}"}}])
        event = _emit(client, total=12)
        rows = _outbox(client, 1)
    assert rows[0]["status"] == "done"
    got = sink.wait_for(1)
    assert json.loads(got[0].body) == {"order": "Order 42", "total": "12"}
    assert got[0].headers["Authorization"] == "Bearer topsecret"
    with daemon.client() as client:
        page = client.filter_events(names=["prefect.automation.action.executed"])
    executed = page["events"][0]
    triggering = [r for r in executed["related"] if r["prefect.resource.role"] == "triggering-event"]
    assert triggering[0]["prefect.resource.id"] == f"prefect.event.{event['id']}"
    assert _tocsin(daemon, "block", "delete", "hook").returncode == 0
    assert json.loads(_tocsin(daemon, "block", "ls", "--json").stdout) == []
    assert _tocsin(daemon, "block", "delete", "hook").returncode == 1


def test_block_create_refuses_a_bad_apprise_url(daemon):
    bad = _tocsin(daemon, "block", "create", "x", "--url", "nosuchscheme://abc")
    assert bad.returncode == 65
    assert "urls[0]" in bad.stderr and "not an apprise URL" in bad.stderr


def test_actions_list_refuses_an_unknown_status(daemon):
    from tocsin.errors import ApiError

    with daemon.client() as client:
        assert client.request("GET", "/actions?status=failed") == []
        with pytest.raises(ApiError) as err:
            client.request("GET", "/actions?status=bogus")
    assert err.value.status == 422


def test_automation_pauses_itself_from_actions_on_trigger(make_daemon, tmp_path):
    daemon = make_daemon(config=_config(tmp_path)).start()
    with daemon.client() as client:
        made = _create(client, "one-shot", [],
                       on_trigger=[{"type": "pause-automation", "source": "inferred"}])
        _emit(client)
        rows = _outbox(client, 1)
        assert rows[0]["status"] == "done", rows
        assert client.request("GET", f"/automations/{made['id']}")["enabled"] is False


def test_killed_between_firing_and_delivery_delivers_once_after_restart(make_daemon, tmp_path, sink):
    sink.statuses[:] = [0]  # the first call hangs: the daemon dies while it is in flight
    daemon = make_daemon(config=_config(tmp_path)).start()
    with daemon.client() as client:
        _create(client, "orders", [{"type": "call-webhook", "url": f"{sink.url}/once",
                                    "payload": "order {{ event.resource.id }}"}])
        _emit(client)
    first = sink.wait_for(1)[0]
    daemon.kill9()
    daemon.start()
    got = sink.wait_for(2)
    assert got[1].headers["Idempotency-Key"] == first.headers["Idempotency-Key"]
    assert got[1].body == b"order order.42"
    with daemon.client() as client:
        rows = _outbox(client, 1)
    assert [(r["status"], r["attempts"]) for r in rows] == [("done", 1)]
    # Success is recorded: neither a crash nor a restart sends it again.
    daemon.kill9()
    daemon.start()
    time.sleep(1.0)
    assert len(sink.received) == 2
