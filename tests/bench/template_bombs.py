"""Template bombs against a real daemon (issue 11, finding 3): peak daemon RSS and /health
latency while every bomb of tests/test_template_limits.py is sent to `POST /templates/render`,
COPIES at a time, and the slow many-steps template runs into the 2 s limit, through the
preview and through an automation's actions. Targets: RSS < 300 MB, /health < 100 ms.

    python tests/bench/template_bombs.py [--copies N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon_proc import DaemonProcess
from test_template_daemon import SLOW, SLOW_EVENT, HealthProbe, peak_rss_mb
from test_template_limits import BOMBS as ALL_BOMBS
from tocsin.client.sync import ApiError, SyncClient

# the ones that need no huge value in their context (a daemon's events are small)
BOMBS = [b for b in ALL_BOMBS if "big" not in b]


def preview(socket: Path, template: str, event: dict) -> int:
    """The HTTP status `POST /templates/render` answers."""
    with SyncClient(socket, timeout=30) as c:
        try:
            c.request("POST", "/templates/render", {"template": template, "event": event})
        except ApiError as exc:
            return exc.status
    return 200


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=6)
    args = parser.parse_args()
    d = DaemonProcess().start()
    try:
        pid = d.proc.pid  # type: ignore[union-attr]
        base = rss_mb(pid)
        with d.client() as c:
            c.request("POST", "/automations", {
                "name": "bombs", "trigger": {"type": "event", "expect": ["bomb"]},
                "actions": [{"type": "call-webhook", "url": "http://127.0.0.1:9/hook",
                             "payload": b} for b in [*BOMBS, SLOW]]})
        statuses: list[int] = []
        times: list[float] = []

        def send(template: str, event: dict) -> None:
            started = time.monotonic()
            statuses.append(preview(d.socket, template, event))
            times.append(time.monotonic() - started)

        with HealthProbe(d.socket) as quiet:
            time.sleep(3)
        with HealthProbe(d.socket) as probe:
            time.sleep(0.5)
            started = time.monotonic()
            for bomb in BOMBS:
                threads = [threading.Thread(target=send, args=(bomb, {"event": "b", "resource": {
                    "prefect.resource.id": "b"}, "payload": {}})) for _ in range(args.copies)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            with d.client() as c:
                c.emit([SLOW_EVENT])
            send(SLOW, SLOW_EVENT)
            elapsed = time.monotonic() - started
            time.sleep(1)
        lat = sorted(probe.latencies)
        base_lat = sorted(quiet.latencies)
        print(f"bombs sent: {len(statuses)} ({len(BOMBS)} kinds x {args.copies} at once, "
              f"+ the slow one), all refused: {set(statuses) == {422}}")
        print(f"refusal time: median {statistics.median(times) * 1000:.1f} ms, "
              f"worst {max(times) * 1000:.0f} ms (the slow one stops at the 2 s limit); "
              f"total {elapsed:.1f} s")
        print(f"daemon RSS: before {base:.0f} MB, peak {peak_rss_mb(pid):.0f} MB "
              f"(target < 300 MB)")
        print(f"/health: {len(lat)} probes, p50 {lat[len(lat) // 2] * 1000:.1f} ms, "
              f"p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms, "
              f"worst {lat[-1] * 1000:.1f} ms (target < 100 ms)")
        print(f"/health with no bombs, same run: p50 {base_lat[len(base_lat) // 2] * 1000:.1f} ms, "
              f"p99 {base_lat[int(len(base_lat) * 0.99)] * 1000:.1f} ms, "
              f"worst {base_lat[-1] * 1000:.1f} ms (machine noise)")
    finally:
        d.stop()
        d.cleanup()


if __name__ == "__main__":
    main()
