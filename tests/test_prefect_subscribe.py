"""`[[subscribe]]` from a real Prefect server: a flow run it orchestrates fires a local tocsin
automation (a notification into a local sink), also for a run that finished while tocsin was
down (caught up through `events/filter` after the disconnect), each event stored once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from actions_sinks import HttpSink
from prefect_env import PREFECT_TEST_TIMEOUT, PrefectServer, run_prefect, wait_for

pytestmark = pytest.mark.timeout(PREFECT_TEST_TIMEOUT)


@pytest.fixture
def sink():
    s = HttpSink().start()
    yield s
    s.stop()


def run_flow(prefect_py, tmp_path, server: PrefectServer, flow_name: str, tag: str) -> None:
    script = textwrap.dedent(f"""
        from prefect import flow

        @flow(name={flow_name!r}, flow_run_name={tag!r})
        def watched(tag: str):
            return tag

        watched({tag!r})
    """)
    done = run_prefect(prefect_py, tmp_path, server.api_url, script=script)
    assert done.returncode == 0, done.stderr


def subscribe_status(d, server: PrefectServer) -> dict:
    with d.client() as c:
        return c.health()["components"]["subscribe"][server.api_url]


def connected(d, server: PrefectServer) -> bool:
    return subscribe_status(d, server)["connected"]


def test_prefect_flow_run_fires_a_local_automation_across_a_disconnect(
        make_daemon, tmp_path, prefect_py, prefect_server: PrefectServer, sink):
    flow_name = f"watched-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "tocsin.toml"
    config.write_text(f'[[subscribe]]\nurl = "{prefect_server.api_url}"\n'
                      f'names = ["prefect.flow-run.*"]\n')
    d = make_daemon(config=config).start()
    made = subprocess.run([sys.executable, "-m", "tocsin.cli.main", "--socket", str(d.socket),
                           "block", "create", "sink", "--url", f"json://127.0.0.1:{sink.port}/n"],
                          capture_output=True, text=True, timeout=30)
    assert made.returncode == 0, made.stderr
    with d.client() as c:
        c.request("POST", "/automations/", {
            "name": "prefect run finished",
            "trigger": {"expect": ["prefect.flow-run.Completed"], "posture": "Reactive",
                        "match_related": {"prefect.resource.role": "flow",
                                          "prefect.resource.name": flow_name}},
            "actions": [{"type": "send-notification", "block": "sink",
                         "subject": "done",
                         "body": "{{ event.resource['prefect.resource.name'] }}"}]})
    wait_for(lambda: connected(d, prefect_server), 30, "the subscription")

    run_flow(prefect_py, tmp_path, prefect_server, flow_name, "live")
    [first] = sink.wait_for(1, timeout=30)
    assert "live" in first.body.decode()

    d.kill9()  # the disconnect: this run finishes while tocsin is down
    run_flow(prefect_py, tmp_path, prefect_server, flow_name, "while-down")
    d.start()
    got = sink.wait_for(2, timeout=30)
    assert "while-down" in got[1].body.decode()

    time.sleep(1.0)  # the live stream and the catch-up overlap: still one copy each
    with d.client() as c:
        events = c.filter_events(names=["prefect.flow-run.Completed"], limit=100)["events"]
    mine = [e for e in events if any(r.get("prefect.resource.name") == flow_name
                                     for r in e["related"])]
    assert len(mine) == 2
    assert len({e["id"] for e in mine}) == 2
    assert len(sink.received) == 2
    assert subscribe_status(d, prefect_server)["last_error"] is None
    assert json.loads(got[1].body)["title"] == "done"
