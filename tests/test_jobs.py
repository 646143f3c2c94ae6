"""Flow runs end to end: a real daemon, real run subprocesses, the CLI as a user types it."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daemon_proc import DaemonProcess
from tocsin.errors import ApiError

TOCSIN = [sys.executable, "-m", "tocsin.cli.main"]
SAMPLES = Path(__file__).parent.parent / "samples" / "project"
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def cli(d: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TOCSIN, "--socket", str(d.socket), *args], capture_output=True,
                          text=True, timeout=30, check=False)


def wait_for(pred, timeout: float = 15.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def get_run(d: DaemonProcess, run_id: str) -> dict:
    with d.client() as c:
        return c.request("GET", f"/flow_runs/{run_id}")


def wait_state(d: DaemonProcess, run_id: str, *types: str, timeout: float = 15.0) -> dict:
    return wait_for(lambda: (r := get_run(d, run_id))["state"]["type"] in types and r, timeout)


def run_events(d: DaemonProcess, run_id: str) -> list[dict]:
    with d.client() as c:
        page = c.filter_events(resource={"prefect.resource.id": f"prefect.flow-run.{run_id}"},
                               order="oldest", limit=100)
    return page["events"]


def start(d: DaemonProcess, deployment: str, **params) -> dict:
    with d.client() as c:
        return c.request("POST", f"/deployments/{deployment}/create_flow_run",
                         {"parameters": params})


@pytest.fixture
def project(daemon) -> DaemonProcess:
    out = cli(daemon, "deploy", "--file", str(SAMPLES / "tocsin.yaml"))
    assert out.returncode == 0, out.stderr
    return daemon


def test_deployment_run_completes_with_result_logs_and_prefect_events(project):
    d = project
    out = cli(d, "deployment", "run", "upstream_deployment", "-p", "batch=3", "--watch")
    assert out.returncode == 0, out.stderr
    assert "Completed" in out.stdout
    runs = json.loads(cli(d, "run", "ls", "--json", "--deployment", "upstream_deployment").stdout)
    run = runs[0]
    assert run["parameters"] == {"batch": 3} and run["result"] == {"batch": 3, "rows": 30}
    logs = cli(d, "run", "logs", run["id"][:8]).stdout
    assert f"| INFO    | Flow run '{run['name']}' - extracted batch 3" in logs

    events = run_events(d, run["id"])
    assert [e["event"] for e in events] == [
        "prefect.flow-run.Scheduled", "prefect.flow-run.Pending",
        "prefect.flow-run.Running", "prefect.flow-run.Completed"]
    for before, after in itertools.pairwise(events):
        assert after["follows"] == before["id"]
    done = events[-1]
    assert done["resource"]["prefect.state-type"] == "COMPLETED"
    assert done["resource"]["prefect.run-count"] == "1"
    related = {r["prefect.resource.role"]: r for r in done["related"]}
    assert related["deployment"]["prefect.resource.name"] == "upstream_deployment"
    assert related["flow"]["prefect.resource.name"] == "upstream"
    assert related["work-pool"]["prefect.resource.name"] == "local"
    assert related["work-queue"]["prefect.resource.name"] == "default"
    assert related["tag"]["prefect.resource.id"] == "prefect.tag.etl"


def test_failures_commands_and_bad_parameters(project):
    d = project
    failed = start(d, "always-fails", reason="disk full")
    run = wait_state(d, failed["id"], *FINAL)
    assert run["state"]["name"] == "Failed"
    assert run["state"]["message"] == "Flow run encountered an exception: ValueError: disk full"
    assert "Traceback" in cli(d, "run", "logs", run["id"]).stdout

    cmd = wait_state(d, start(d, "nightly-report", day="monday")["id"], *FINAL)
    assert cmd["state"]["name"] == "Completed"
    assert "report for monday" in cli(d, "run", "logs", cmd["id"]).stdout

    bad = wait_state(d, start(d, "upstream_deployment", nope=1)["id"], *FINAL)
    assert bad["state"]["name"] == "Failed"
    assert "Validation of flow parameters failed" in bad["state"]["message"]


def test_cancel_kills_the_process_and_suspend_resume_stop_and_continue_it(project):
    d = project
    run = start(d, "sleepy", seconds=30)
    run = wait_state(d, run["id"], "RUNNING")
    pid = run["pid"]
    out = cli(d, "run", "suspend", run["id"])
    assert out.returncode == 0 and "Suspended" in out.stdout
    assert wait_for(lambda: Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "T")
    assert "Running" in cli(d, "run", "resume", run["id"]).stdout
    assert cli(d, "run", "cancel", run["id"]).returncode == 0
    run = wait_state(d, run["id"], *FINAL)
    assert run["state"]["name"] == "Cancelled"
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    names = [e["event"] for e in run_events(d, run["id"])]
    assert names[-5:] == ["prefect.flow-run.Running", "prefect.flow-run.Suspended",
                          "prefect.flow-run.Running", "prefect.flow-run.Cancelling",
                          "prefect.flow-run.Cancelled"]
    again = cli(d, "run", "cancel", run["id"])
    assert again.returncode == 1 and "already Cancelled" in again.stderr


def test_runs_survive_a_daemon_restart_and_vanished_ones_crash(project):
    d = project
    graceful = wait_state(d, start(d, "sleepy", seconds=1.5)["id"], "RUNNING")
    d.restart()  # SIGTERM: the daemon stops, the run's process does not
    assert wait_state(d, graceful["id"], *FINAL)["state"]["name"] == "Completed"
    with d.client() as c:
        pools = c.filter_events(names=["prefect.work-pool.*"], order="oldest")["events"]
    local = [e["event"] for e in pools if e["resource"]["prefect.resource.name"] == "local"]
    assert local[-2:] == ["prefect.work-pool.not-ready", "prefect.work-pool.ready"]

    alive = wait_state(d, start(d, "sleepy", seconds=2)["id"], "RUNNING")
    doomed = wait_state(d, start(d, "sleepy", seconds=30)["id"], "RUNNING")
    d.kill9()
    os.killpg(doomed["pid"], signal.SIGKILL)
    d.start()
    assert wait_state(d, alive["id"], *FINAL)["state"]["name"] == "Completed"
    crashed = get_run(d, doomed["id"])
    assert crashed["state"]["name"] == "Crashed"
    assert "gone when the daemon restarted" in crashed["state"]["message"]


def test_a_run_started_but_never_recorded_as_running_is_found_and_adopted(project):
    """kill -9 between spawning a run and committing Running: the restarted daemon finds the
    process by its command line instead of calling the run Crashed."""
    d = project
    run = wait_state(d, start(d, "sleepy", seconds=2)["id"], "RUNNING")
    d.kill9()
    db = sqlite3.connect(d.home / "tocsin.db")
    data = json.loads(db.execute("SELECT data FROM jobs_flow_runs WHERE id = ?",
                                 (run["id"],)).fetchone()[0])
    data["pid"], data["state"]["type"], data["state"]["name"] = None, "PENDING", "Pending"
    with db:
        db.execute("UPDATE jobs_flow_runs SET data = ? WHERE id = ?",
                   (json.dumps(data), run["id"]))
    db.close()
    d.start()
    done = wait_state(d, run["id"], *FINAL)
    assert done["state"]["name"] == "Completed" and done["pid"] == run["pid"]


def test_work_pool_pause_holds_runs_and_concurrency_limit_serialises(project):
    d = project
    assert cli(d, "work-pool", "pause", "local").returncode == 0
    held = start(d, "upstream_deployment")
    time.sleep(0.5)
    assert get_run(d, held["id"])["state"]["name"] == "Scheduled"
    assert cli(d, "work-pool", "resume", "local").returncode == 0
    assert wait_state(d, held["id"], *FINAL)["state"]["name"] == "Completed"
    with d.client() as c:
        c.request("PATCH", "/work_pools/default", {"concurrency_limit": 1})
        pool_events = c.filter_events(names=["prefect.work-pool.*"], order="oldest")["events"]
    local = [e["event"] for e in pool_events if e["resource"]["prefect.resource.name"] == "local"]
    assert local == ["prefect.work-pool.ready", "prefect.work-pool.paused",
                     "prefect.work-pool.ready"]
    first = wait_state(d, start(d, "sleepy", seconds=1)["id"], "RUNNING")
    second = start(d, "sleepy", seconds=0)
    time.sleep(0.4)
    assert get_run(d, second["id"])["state"]["name"] == "Scheduled"
    wait_state(d, first["id"], *FINAL)
    assert wait_state(d, second["id"], *FINAL)["state"]["name"] == "Completed"


def test_schedule_runs_in_real_time_and_pause_resume(daemon, tmp_path):
    d = daemon
    (tmp_path / "tocsin.yaml").write_text(
        "deployments:\n  - name: tick\n    command: 'true'\n"
        "    schedules:\n      - cron: '* * * * * */1'\n")
    assert cli(d, "deploy", "-f", str(tmp_path / "tocsin.yaml")).returncode == 0

    def completed() -> int:
        with d.client() as c:
            return len(c.request("GET", "/flow_runs?deployment=tick&state=Completed"))

    wait_for(lambda: completed() >= 2, timeout=10)
    assert cli(d, "deployment", "pause", "tick").returncode == 0
    time.sleep(0.5)
    with d.client() as c:
        paused_at = len(c.request("GET", "/flow_runs?deployment=tick"))
    time.sleep(2.2)
    with d.client() as c:
        assert len(c.request("GET", "/flow_runs?deployment=tick")) == paused_at
    assert cli(d, "deployment", "resume", "tick").returncode == 0
    wait_for(lambda: completed() >= paused_at + 1, timeout=10)


def test_serve_runs_deployments_in_the_serving_process(daemon, tmp_path):
    d = daemon
    script = tmp_path / "served.py"
    script.write_text(
        "from tocsin import flow\n\n"
        "@flow(log_prints=True)\n"
        "def post_order_complete(user_id: str = 'nobody'):\n"
        "    print(f'order complete for {user_id}')\n"
        "    return user_id\n\n"
        "if __name__ == '__main__':\n"
        "    post_order_complete.serve(name='orders')\n")
    env = {**os.environ, "TOCSIN_SOCKET": str(d.socket)}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def deployed() -> dict | None:
            with d.client() as c:
                try:
                    return c.request("GET", "/deployments/orders")
                except ApiError:
                    return None
        dep = wait_for(deployed)
        assert dep["served_by"] == proc.pid and dep["flow_name"] == "post-order-complete"
        run = wait_state(d, start(d, "orders", user_id="123")["id"], *FINAL)
        assert run["state"]["name"] == "Completed" and run["result"] == "123"
        assert "order complete for 123" in cli(d, "run", "logs", run["id"]).stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    assert "Stopped serving." in out
    with d.client() as c:
        wait_for(lambda: c.request("GET", "/deployments/orders")["status"] == "NOT_READY")


def test_bad_input_is_refused_with_the_field(daemon):
    with daemon.client() as c:
        with pytest.raises(ApiError) as exc:
            c.request("POST", "/deployments", {"name": "x", "command": "true",
                                               "schedules": [{"cron": "bad"}]})
        assert exc.value.status == 422 and "schedules[0]" in str(exc.value)
        with pytest.raises(ApiError) as exc:
            c.request("POST", "/deployments/nope/create_flow_run", {})
        assert exc.value.status == 404
        run = c.request("POST", "/deployments", {"name": "q", "command": "true"})
        run = c.request("POST", f"/deployments/{run['id']}/create_flow_run", {})
        with pytest.raises(ApiError) as exc:  # was a 500
            c.request("GET", f"/flow_runs/{run['id']}/logs?offset=abc")
        assert exc.value.status == 422 and "offset" in str(exc.value)
        assert c.request("GET", "/flow_runs?state=Late") == []  # known, just none
    out = cli(daemon, "deployment", "run", "nope")
    assert out.returncode == 1 and "no deployment with id or name 'nope'" in out.stderr
    out = cli(daemon, "run", "ls", "--state", "bogus")  # was an empty list and exit 0
    assert out.returncode == 65 and "'bogus' is not a state name or type" in out.stderr


def test_serve_several_deployments_with_a_schedule(daemon, tmp_path):
    """`tocsin.serve(a.to_deployment(..., interval=1), b.to_deployment(...))`: the scheduled
    one runs on its own, the other on request, both in the serving program's processes."""
    d = daemon
    script = tmp_path / "two.py"
    script.write_text(
        "from tocsin import flow, serve\n\n"
        "@flow\n"
        "def ticker():\n"
        "    return 'tick'\n\n"
        "@flow(name='on-demand')\n"
        "def on_demand(x: int = 1):\n"
        "    return x * 2\n\n"
        "if __name__ == '__main__':\n"
        "    serve(ticker.to_deployment('tick', interval=1, tags=['served']),\n"
        "          on_demand.to_deployment('demand', parameters={'x': 5}))\n")
    env = {**os.environ, "TOCSIN_SOCKET": str(d.socket)}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        def ticks() -> list[dict]:
            with d.client() as c:
                try:
                    return c.request("GET", "/flow_runs?deployment=tick&state=Completed")
                except ApiError:
                    return []
        done = wait_for(lambda: len(ticks()) >= 2 and ticks(), timeout=15)
        assert {r["result"] for r in done} == {"tick"} and done[0]["tags"] == ["served"]
        run = wait_state(d, start(d, "demand")["id"], *FINAL)
        assert run["result"] == 10
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def test_work_pool_and_queue_create_again_keeps_their_limits(daemon):
    assert cli(daemon, "work-pool", "create", "gpu", "--concurrency-limit", "2").returncode == 0
    assert cli(daemon, "work-queue", "create", "fast", "--pool", "gpu",
               "--concurrency-limit", "1").returncode == 0
    assert cli(daemon, "work-pool", "create", "gpu").returncode == 0
    assert cli(daemon, "work-queue", "create", "fast", "--pool", "gpu").returncode == 0
    (pool,) = [p for p in json.loads(cli(daemon, "work-pool", "ls", "--json").stdout)
               if p["name"] == "gpu"]
    assert pool["concurrency_limit"] == 2
    assert {q["name"]: q["concurrency_limit"] for q in pool["queues"]}["fast"] == 1
