"""Jobs benchmark: event -> run-deployment -> subprocess started latency, and how many runs per
second the worker starts and finishes with a trivial entrypoint.

    python tests/bench/jobs.py [--events 50] [--runs 200] [--limit 8]

Runs a real daemon subprocess (tests/daemon_proc.py). Latency is measured from just before
`emit` to (a) the run's Running state (its process has been spawned) and (b) the first line
of the flow function (the interpreter has started and imported the flow).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon_proc import DaemonProcess  # noqa: E402

from tocsin.client.sync import build_event  # noqa: E402

FLOW = """
import time
from tocsin import flow


@flow
def noop(tag: str = "") -> float:
    return time.time()
"""


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def wait_final(client, run_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.request("GET", f"/flow_runs/{run_id}")
        if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        time.sleep(0.005)
    raise RuntimeError(f"run {run_id} did not finish")


def latency(d: DaemonProcess, project: Path, n: int) -> None:
    with d.client() as c:
        dep = c.request("POST", "/deployments", {"name": "on-event", "entrypoint": "flows.py:noop",
                                                "path": str(project)})
        c.request("POST", "/automations", {
            "name": "bench run-deployment",
            "trigger": {"type": "event", "expect": ["bench.go"],
                        "match": {"prefect.resource.id": "bench.*"}},
            "actions": [{"type": "run-deployment", "source": "selected",
                         "deployment_id": dep["id"],
                         "parameters": {"tag": "{{ event.resource.id }}"}}]})
        spawned, first_line = [], []
        for i in range(n):
            tag = f"bench.{i}"
            t0 = time.time()
            c.emit([build_event("bench.go", {"prefect.resource.id": tag})])
            run = None
            while run is None:
                runs = c.request("GET", "/flow_runs?deployment=on-event&limit=1")
                if runs and runs[0]["parameters"].get("tag") == tag:
                    run = runs[0]
                else:
                    time.sleep(0.002)
            run = wait_final(c, run["id"])
            running = datetime.fromisoformat(run["start_time"]).timestamp()
            spawned.append((running - t0) * 1000)
            first_line.append((run["result"] - t0) * 1000)
    print(f"event -> run-deployment -> process spawned (Running): n={n} "
          f"p50={pct(spawned, .5):.1f} ms p99={pct(spawned, .99):.1f} ms")
    print(f"event -> first line of the flow function:           n={n} "
          f"p50={pct(first_line, .5):.1f} ms p99={pct(first_line, .99):.1f} ms")


def throughput(d: DaemonProcess, project: Path, n: int, limit: int, command: bool) -> None:
    name = "cmd" if command else "py"
    spec = {"name": f"burst-{name}", "path": str(project),
            "work_pool": {"name": f"bench-{name}"}}
    spec.update({"command": "true"} if command else {"entrypoint": "flows.py:noop"})
    with d.client() as c:
        c.request("POST", "/deployments", spec)
        c.request("PATCH", f"/work_pools/bench-{name}", {"concurrency_limit": limit})
        t0 = time.perf_counter()
        ids = [c.request("POST", f"/deployments/burst-{name}/create_flow_run", {})["id"]
               for _ in range(n)]
        for run_id in ids:
            run = wait_final(c, run_id, timeout=300)
            assert run["state"]["name"] == "Completed", run["state"]
        elapsed = time.perf_counter() - t0
    what = "shell command `true`" if command else "trivial Python flow"
    print(f"throughput, {what}: {n} runs in {elapsed:.2f} s = {n / elapsed:.1f} runs/s "
          f"(work pool concurrency limit {limit})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=50)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--limit", type=int, default=8)
    args = ap.parse_args()
    project = Path(tempfile.mkdtemp(dir="/tmp", prefix="tjb"))
    (project / "flows.py").write_text(FLOW)
    d = DaemonProcess().start()
    try:
        latency(d, project, args.events)
        throughput(d, project, args.runs, args.limit, command=False)
        throughput(d, project, args.runs, args.limit, command=True)
    finally:
        d.cleanup()


if __name__ == "__main__":
    main()
