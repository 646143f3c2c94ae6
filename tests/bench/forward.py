"""Forward benchmark (issue 16): events/s that `[[forward]]` delivers into a real Prefect
server (counted once Prefect has *stored* them), beside Prefect's own ingest rate measured in
the same run — the same number of events posted straight to its `POST /api/events` in
batches, by a client that does nothing else. The bar: the forwarder is never the bottleneck
(the ratio stays near 1).

Run: python tests/bench/forward.py [--events 20000]
Figures on shared machines are noisy: read the ratio within one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon_proc import DaemonProcess
from prefect_env import PrefectServer, prefect_python

BATCH = 500


def events(n: int, name: str) -> list[dict]:
    now = datetime.now(UTC).isoformat()
    return [{"event": name, "resource": {"prefect.resource.id": f"bench.{i}"},
             "payload": {"i": i}, "id": str(uuid.uuid4()), "occurred": now} for i in range(n)]


def wait_stored(server: PrefectServer, name: str, n: int, timeout: float = 900) -> float:
    """Seconds until Prefect counts `n` events named `name`."""
    start = time.monotonic()
    while server.count_events(names=[name]) < n:
        if time.monotonic() - start > timeout:
            raise SystemExit(f"Prefect stored {server.count_events(names=[name])} of {n} "
                             f"within {timeout}s")
        time.sleep(0.1)
    return time.monotonic() - start


def direct(server: PrefectServer, n: int) -> float:
    """Prefect's own ingest: post every batch, then wait until all are stored."""
    name = f"direct.{uuid.uuid4().hex[:6]}"
    batch = events(n, name)
    start = time.monotonic()
    for i in range(0, n, BATCH):
        req = urllib.request.Request(server.api_url + "/events", method="POST",
                                     data=json.dumps(batch[i:i + BATCH]).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=60).read()
    wait_stored(server, name, n)
    return n / (time.monotonic() - start)


def forwarded(server: PrefectServer, n: int, tmp: Path) -> tuple[float, dict]:
    """The same number of events already stored in tocsin, forwarded once the link starts."""
    name = f"forwarded.{uuid.uuid4().hex[:6]}"
    config = tmp / "tocsin.toml"
    d = DaemonProcess(home=tmp / "home").start()
    try:
        with d.client() as c:
            batch = events(n, name)
            for i in range(0, n, 5000):
                c.emit(batch[i:i + 5000])
        d.stop()
        config.write_text(f'[[forward]]\nurl = "{server.api_url}"\nnames = ["{name}"]\n')
        d.config = config
        start = time.monotonic()
        d.start()
        wait_stored(server, name, n)
        rate = n / (time.monotonic() - start)
        with d.client() as c:
            status = c.health()["components"]["forward"][server.api_url]
        return rate, status
    finally:
        d.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tocsin-bench-forward-"))
    server = PrefectServer(prefect_python(), tmp / "prefect").start()
    try:
        own = direct(server, args.events)
        fwd, status = forwarded(server, args.events, tmp)
    finally:
        server.stop()
    print(f"events: {args.events}")
    print(f"Prefect's own ingest (POST /api/events, {BATCH} a batch, until stored): "
          f"{own:,.0f} events/s")
    print(f"tocsin [[forward]] into the same server (until stored): {fwd:,.0f} events/s")
    print(f"forward / Prefect's own: {fwd / own:.2f}")
    print(f"forward link status: {json.dumps(status)}")


if __name__ == "__main__":
    main()
