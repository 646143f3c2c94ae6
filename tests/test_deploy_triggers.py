"""Deployment triggers and job actions end to end: the real daemon with its engine, actions
and worker, real run subprocesses, Prefect's own examples."""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path
from typing import ClassVar

from test_jobs import FINAL, SAMPLES, cli, get_run, run_events, start, wait_for, wait_state


def automations(d) -> list[dict]:
    with d.client() as c:
        return c.request("POST", "/automations/filter", {})


def runs_of(d, deployment: str) -> list[dict]:
    with d.client() as c:
        return c.request("GET", f"/flow_runs?deployment={deployment}")


def test_downstream_deployment_runs_when_upstream_completes(daemon):
    """Prefect's example: the downstream trigger expects prefect.flow-run.Completed related to
    the upstream deployment, and passes a parameter rendered from the event."""
    d = daemon
    assert cli(d, "deploy", "-f", str(SAMPLES / "tocsin.yaml")).returncode == 0
    [auto] = [a for a in automations(d) if a["owner_resource"]]
    dep = json.loads(cli(d, "deployment", "inspect", "downstream_deployment").stdout)
    assert auto["name"] == "downstream_deployment__automation_1"
    assert auto["owner_resource"] == f"prefect.deployment.{dep['id']}"
    assert auto["actions"][0]["type"] == "run-deployment"
    assert auto["actions"][0]["deployment_id"] == dep["id"]

    upstream = wait_state(d, start(d, "upstream_deployment")["id"], *FINAL)
    assert upstream["state"]["name"] == "Completed"
    downstream = wait_for(lambda: runs_of(d, "downstream_deployment"))
    [run] = downstream
    run = wait_state(d, run["id"], *FINAL)
    assert run["state"]["name"] == "Completed"
    assert run["parameters"]["source"] == upstream["name"]
    assert run["created_by"]["type"] == "AUTOMATION" and run["created_by"]["id"] == auto["id"]
    assert f"loading 0 rows from {upstream['name']}" in cli(d, "run", "logs", run["id"]).stdout
    scheduled = run_events(d, run["id"])[0]
    creator = [r for r in scheduled["related"] if r["prefect.resource.role"] == "creator"]
    assert creator == [{"prefect.resource.id": f"prefect.automation.{auto['id']}",
                        "prefect.resource.role": "creator",
                        "prefect.resource.name": auto["name"]}]

    # Redeploying replaces the deployment's automations; --trigger replaces the file's.
    trigger = json.dumps({"type": "event", "expect": ["never.happens"],
                          "match": {"prefect.resource.id": "x"}})
    out = cli(d, "deploy", "-f", str(SAMPLES / "tocsin.yaml"), "-n", "downstream_deployment",
              "--trigger", trigger)
    assert out.returncode == 0, out.stderr
    [again] = [a for a in automations(d) if a["owner_resource"]]
    assert again["id"] != auto["id"] and again["trigger"]["expect"] == ["never.happens"]


def test_a_bad_trigger_refuses_the_deploy_and_changes_nothing(daemon, tmp_path):
    d = daemon
    (tmp_path / "tocsin.yaml").write_text(
        "deployments:\n  - name: a\n    command: 'true'\n    triggers:\n"
        "      - type: event\n        expect: [x.y]\n        posture: Sideways\n")
    out = cli(d, "deploy", "-f", str(tmp_path / "tocsin.yaml"))
    assert out.returncode == 65
    assert "triggers[0].posture" in out.stderr
    assert json.loads(cli(d, "deployment", "ls", "--json").stdout) == []
    assert automations(d) == []


def test_stuck_run_is_cancelled_by_a_proactive_automation(daemon):
    """Prefect's example: a run Running without Completed within the window is cancelled."""
    d = daemon
    assert cli(d, "deploy", "-f", str(SAMPLES / "tocsin.yaml"), "-n", "sleepy").returncode == 0
    automation = {
        "name": "cancel stuck runs",
        "trigger": {"type": "event", "posture": "Proactive",
                    "match": {"prefect.resource.id": "prefect.flow-run.*"},
                    "after": ["prefect.flow-run.Running"],
                    "expect": ["prefect.flow-run.Completed"],
                    "for_each": ["prefect.resource.id"], "threshold": 1, "within": 10},
        "actions": [{"type": "cancel-flow-run"}],
    }
    with d.client() as c:
        auto = c.request("POST", "/automations", automation)
    run = wait_state(d, start(d, "sleepy", seconds=60)["id"], "RUNNING")
    pid = run["pid"]
    run = wait_state(d, run["id"], *FINAL, timeout=25)
    assert run["state"]["name"] == "Cancelled"
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    events = run_events(d, run["id"])
    cancelling = [e for e in events if e["event"] == "prefect.flow-run.Cancelling"]
    assert cancelling[0]["resource"]["prefect.state-message"] == f"Cancelled by Automation {auto['id']}"
    assert events[-1]["event"] == "prefect.flow-run.Cancelled"
    with d.client() as c:
        executed = c.filter_events(names=["prefect.automation.action.executed"])["events"]
    targets = [r["prefect.resource.id"] for e in executed for r in e["related"]
               if r["prefect.resource.role"] == "target"]
    assert targets == [f"prefect.flow-run.{run['id']}"]


def test_inferred_job_actions_pause_the_deployment_and_work_pool(daemon):
    d = daemon
    assert cli(d, "deploy", "-f", str(SAMPLES / "tocsin.yaml"), "-n", "always-fails",
               "-n", "upstream_deployment").returncode == 0
    automation = {
        "name": "stop failing things",
        "trigger": {"type": "event", "expect": ["prefect.flow-run.Failed"],
                    "match": {"prefect.resource.id": "prefect.flow-run.*"}},
        "actions": [{"type": "pause-deployment", "source": "inferred"},
                    {"type": "pause-work-pool", "source": "inferred"},
                    {"type": "pause-work-queue", "source": "selected",
                     "work_queue_id": "00000000-0000-0000-0000-000000000000"}],
    }
    with d.client() as c:
        c.request("POST", "/automations", automation)
    wait_state(d, start(d, "always-fails")["id"], *FINAL)

    def paused() -> bool:
        dep = json.loads(cli(d, "deployment", "inspect", "always-fails").stdout)
        with d.client() as c:
            pool = c.request("GET", "/work_pools/default")
        return dep["paused"] and pool["is_paused"]

    wait_for(paused)
    with d.client() as c:
        failed = wait_for(lambda: c.filter_events(
            names=["prefect.automation.action.failed"])["events"])
    assert failed[0]["payload"]["reason"] == (
        "Work queue 00000000-0000-0000-0000-000000000000 not found")
    # The upstream deployment is in another pool, so it still runs.
    assert wait_state(d, start(d, "upstream_deployment")["id"], *FINAL)["state"]["name"] == "Completed"
    held = start(d, "always-fails")
    time.sleep(0.5)
    assert get_run(d, held["id"])["state"]["name"] == "Scheduled"



class _Sink(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        _Sink.bodies.append(self.rfile.read(length).decode())
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_flow_run_actions_and_template_objects(daemon):
    """suspend on Running (its webhook renders flow_run, flow, deployment, work_pool), then
    resume and change-flow-run-state inferred from related resources of custom events."""
    d = daemon
    server = http.server.HTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    _Sink.bodies = []
    try:
        assert cli(d, "deploy", "-f", str(SAMPLES / "tocsin.yaml"), "-n", "sleepy").returncode == 0
        with d.client() as c:
            c.request("POST", "/automations", {
                "name": "suspend sleepy",
                "trigger": {"type": "event", "expect": ["prefect.flow-run.Running"],
                            "match_related": {"prefect.resource.role": "deployment",
                                              "prefect.resource.name": "sleepy"}},
                "actions": [{"type": "suspend-flow-run"},
                            {"type": "call-webhook", "url": url,
                             "payload": "{{ flow_run.name }}|{{ flow.name }}|"
                                        "{{ deployment.name }}|{{ work_pool.name }}"}]})
            for name, action in (("ops.resume", {"type": "resume-flow-run"}),
                                 ("ops.stop", {"type": "change-flow-run-state",
                                               "state": "CANCELLING"})):
                c.request("POST", "/automations", {
                    "name": name, "trigger": {"type": "event", "expect": [name],
                                              "match": {"prefect.resource.id": "ops"}},
                    "actions": [action]})
        run = start(d, "sleepy", seconds=60)
        run = wait_state(d, run["id"], "PAUSED")
        assert run["state"]["name"] == "Suspended"
        assert wait_for(lambda: _Sink.bodies)[0] == f"{run['name']}|sleepy|sleepy|default"
        related = [{"prefect.resource.id": f"prefect.flow-run.{run['id']}",
                    "prefect.resource.role": "flow-run"}]
        with d.client() as c:
            c.emit([{"event": "ops.resume", "resource": {"prefect.resource.id": "ops"},
                     "related": related}])
        wait_for(lambda: [e for e in run_events(d, run["id"])
                          if e["event"] == "prefect.flow-run.Running"][1:])
        with d.client() as c:
            c.emit([{"event": "ops.stop", "resource": {"prefect.resource.id": "ops"},
                     "related": related}])
        run = wait_state(d, run["id"], *FINAL)
        assert run["state"]["name"] == "Cancelled"
        assert run["state"]["message"].startswith("State changed by Automation ")
    finally:
        server.shutdown()


def test_metric_automation_in_the_daemon_measures_real_runs(daemon):
    """The live daemon feeds its own flow-run events to a metric trigger, keeps its state
    across a restart, and `automation inspect` says where the metric stands."""
    d = daemon
    assert cli(d, "deploy", "-f", str(SAMPLES / "tocsin.yaml"), "-n", "always-fails").returncode == 0
    with d.client() as c:
        c.request("POST", "/automations", {
            "name": "mostly failing",
            "trigger": {"type": "metric", "match": {"prefect.resource.id": "prefect.flow-run.*"},
                        "metric": {"name": "successes", "operator": "<", "threshold": 0.5}},
            "actions": [{"type": "do-nothing"}]})
    wait_state(d, start(d, "always-fails")["id"], *FINAL)
    d.restart()
    wait_state(d, start(d, "always-fails")["id"], *FINAL)

    def line() -> str:
        out = cli(d, "automation", "inspect", "mostly failing").stdout
        return next((x for x in out.splitlines() if x.strip().startswith("metric ")), "")

    text = wait_for(lambda: "over 2 run(s)" in line() and line())
    assert "successes = 0 over 2 run(s); fires when < 0.5; in breach since" in text
