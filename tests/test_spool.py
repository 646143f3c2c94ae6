"""The spool: emitters that find no daemon append to it; the daemon stores it at start-up and
while running, through the tailer, with nothing lost or doubled."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
from tocsin.client.sync import SyncClient, emit_event
from tocsin.sources.spool import spool_events


@pytest.fixture
def down(make_daemon, monkeypatch: pytest.MonkeyPatch):
    """A daemon that is set up (home, socket) but not started; the env points emitters at it."""
    d = make_daemon()
    monkeypatch.setenv("TOCSIN_HOME", str(d.home))
    monkeypatch.setenv("TOCSIN_SOCKET", str(d.socket))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return d


def tocsin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tocsin.cli.main", *args], check=False,
                          capture_output=True, text=True, timeout=30)


def stored(d: Any, **filter_fields: Any) -> list[dict[str, Any]]:
    with SyncClient(d.socket) as c:
        return c.filter_events(limit=10_000, order="oldest", **filter_fields)["events"]


def wait_stored(d: Any, count: int, name: str, timeout: float = 15.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = stored(d, names=[name])
        if len(events) >= count:
            time.sleep(0.3)  # a little longer, so that a double would show
            return stored(d, names=[name])
        time.sleep(0.05)
    raise AssertionError(f"{len(stored(d, names=[name]))} of {count} {name} events stored")


def test_emit_spools_when_no_daemon_and_the_daemon_stores_it_at_start(down) -> None:
    result = tocsin("emit", "spooled.one", "-r", "prefect.resource.id=r.1")
    assert result.returncode == 0, result.stderr
    event_id = result.stdout.strip()
    assert "not running; spooled 1 event" in result.stderr
    spool = down.home / "spool" / "spool.jsonl"
    assert json.loads(spool.read_text())["id"] == event_id
    emit_event("spooled.two", {"prefect.resource.id": "r.2"})
    down.start()
    events = wait_stored(down, 1, "spooled.one") + wait_stored(down, 1, "spooled.two")
    assert events[0]["id"] == event_id
    # The spool is emptied once stored; a restart stores nothing twice.
    deadline = time.monotonic() + 5
    while spool.stat().st_size and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spool.stat().st_size == 0
    down.restart()
    assert len(wait_stored(down, 1, "spooled.*")) == 2


def test_spool_written_while_the_daemon_runs_is_stored(down) -> None:
    down.start()
    events = [{"id": f"0190d0f6-94f2-7f01-8a6b-{i:012x}", "event": "spooled.live",
               "resource": {"prefect.resource.id": f"r.{i}"}} for i in range(50)]
    spool_events(events[:25])
    spool_events(events[:25])  # an emitter that retried: the same ids again
    spool_events(events[25:])
    got = wait_stored(down, 50, "spooled.live")
    assert sorted(e["id"] for e in got) == sorted(e["id"] for e in events)


def test_stdin_emit_spools_each_batch_and_concurrent_emitters_do_not_interleave(down) -> None:
    lines = [json.dumps({"event": "spooled.many", "resource": {"prefect.resource.id": f"r.{i}"},
                         "payload": {"text": "x" * 3000}}) for i in range(300)]
    procs = [subprocess.Popen([sys.executable, "-m", "tocsin.cli.main", "emit", "-"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate("\n".join(lines) + "\n", timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    ids = [i for out, _ in outs for i in out.split()]
    assert len(ids) == 900
    down.start()
    got = wait_stored(down, 900, "spooled.many")
    assert sorted(e["id"] for e in got) == sorted(ids)
    assert down.client().health()["components"]["watch"]["spool"]["rejected"] == 0


def test_stdin_emit_spooled_without_occurred_keeps_the_time_it_was_emitted(down) -> None:
    line = json.dumps({"event": "spooled.stdin", "resource": {"prefect.resource.id": "r"}})
    result = subprocess.run([sys.executable, "-m", "tocsin.cli.main", "emit", "-"], input=line,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "emitted 0 events, spooled 1" in result.stderr
    spool = down.home / "spool" / "spool.jsonl"
    occurred = json.loads(spool.read_text())["occurred"]
    time.sleep(1.5)
    down.start()
    (event,) = wait_stored(down, 1, "spooled.stdin")
    assert event["occurred"][:19] == occurred[:19]


def test_an_invalid_event_is_refused_not_spooled(down) -> None:
    result = tocsin("emit", "bad", "-r", "a=b")
    assert result.returncode == 65, result.stderr
    assert "prefect.resource.id" in result.stderr and "Traceback" not in result.stderr
    bad = json.dumps({"event": "ok", "resource": {"prefect.resource.id": "r"}, "payload": [1]})
    result = subprocess.run([sys.executable, "-m", "tocsin.cli.main", "emit", "-"], input=bad,
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 65 and "payload" in result.stderr, result.stderr
    spool = down.home / "spool" / "spool.jsonl"
    assert not spool.exists() or spool.read_text() == ""
