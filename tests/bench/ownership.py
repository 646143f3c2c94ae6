"""Ownership benchmark (issue 12): the figures the issue names, measured on real daemons.

1. Two daemons on one home with different sockets, both watching a 2,000-line file: how many
   of the 2,000 lines are stored (the issue saw 2,000 stored twice; one daemon per home means
   once), and how long the second daemon takes to refuse.
2. The restart race, `kill -TERM $old; tocsin daemon` with a client connected, N times: how
   many end with exactly one reachable daemon, and the time from SIGTERM to the new daemon
   answering (mean and max).
3. A socket file deleted under a running daemon: the time until it answers again.
4. `systemd-analyze security` exposure of both sample units (the issue saw 9.6 UNSAFE).

Run: python tests/bench/ownership.py [--restarts 20]
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon_proc import DaemonProcess, health_within
from tocsin.client.sync import SyncClient

ROOT = Path(__file__).resolve().parents[2]
TOCSIN = [sys.executable, "-m", "tocsin.cli.main"]


def two_daemons_one_home() -> None:
    d = DaemonProcess()
    d.dir.mkdir(exist_ok=True)
    log = d.dir / "events.jsonl"
    log.write_text("".join(json.dumps({"event": "bench.line", "resource": {
        "prefect.resource.id": f"r.{i}"}}) + "\n" for i in range(2000)))
    config = d.dir / "tocsin.toml"
    config.write_text(f'[[watch]]\npath = "{log}"\nstart = "beginning"\n')
    d.config = config
    try:
        d.start()
        t0 = time.perf_counter()
        second = subprocess.run([*TOCSIN, "daemon", "--home", str(d.home), "--socket",
                                 str(d.dir / "second.sock"), "--config", str(config)],
                                capture_output=True, text=True, timeout=60)
        refused_s = time.perf_counter() - t0
        deadline = time.monotonic() + 30
        while True:
            with d.client() as c:
                stored = len(c.filter_events(names=["bench.line"], limit=10_000)["events"])
            if stored >= 2000 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        time.sleep(1.0)
        with d.client() as c:
            stored = len(c.filter_events(names=["bench.line"], limit=10_000)["events"])
        print(f"two daemons on one home: second exited {second.returncode} after "
              f"{refused_s:.2f}s (process start included); lines stored {stored} of 2000")
    finally:
        d.cleanup()


def restart_race(n: int) -> None:
    d = DaemonProcess().start()
    procs = [d.proc]
    took: list[float] = []
    ok = 0
    try:
        for _ in range(n):
            old = procs[-1]
            client = SyncClient(d.socket)
            client.health()
            t0 = time.perf_counter()
            old.send_signal(signal.SIGTERM)
            with open(d.log_path, "ab") as out:
                procs.append(subprocess.Popen(
                    [*TOCSIN, "daemon", "--home", str(d.home), "--socket", str(d.socket)],
                    stdout=out, stderr=out))
            old.wait(60)
            client.close()
            pid = health_within(d.socket, timeout=30.0, poll=0.01)["pid"]
            took.append(time.perf_counter() - t0)
            alive = [p.pid for p in procs if p.poll() is None]
            ok += alive == [pid] == [procs[-1].pid]
        print(f"restart race x{n}: {ok} of {n} ended with exactly one reachable daemon; "
              f"SIGTERM to new daemon answering mean {statistics.mean(took):.2f}s "
              f"max {max(took):.2f}s")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        d.cleanup()


def socket_rebind() -> None:
    d = DaemonProcess().start()
    try:
        t0 = time.perf_counter()
        d.socket.unlink()
        health_within(d.socket, timeout=30.0, poll=0.01)
        print(f"socket file deleted: answering again after {time.perf_counter() - t0:.2f}s")
    finally:
        d.cleanup()


def unit_scores() -> None:
    if shutil.which("systemd-analyze") is None:
        print("systemd-analyze not installed: unit scores not measured")
        return
    for name in ("tocsin.service", "tocsin-system.service"):
        out = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager",
                              str(ROOT / "samples" / name)], capture_output=True, text=True)
        print(f"systemd-analyze security {name}: "
              f"{out.stdout.rsplit('Overall exposure level', 1)[-1].split(':', 1)[-1].strip()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--restarts", type=int, default=20)
    args = parser.parse_args()
    two_daemons_one_home()
    restart_race(args.restarts)
    socket_rebind()
    unit_scores()


if __name__ == "__main__":
    main()
