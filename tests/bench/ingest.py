"""Ingest benchmark (issue 2): prints events/s through POST /events and /events/in, the raw
SQLite ceiling for the same rows, `tocsin emit` process time and the daemon's RSS.

Run: python tests/bench/ingest.py [--events 100000]
Figures on shared machines are noisy: read the ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon_proc import DaemonProcess
from rows import event_rows
from tocsin.events.model import decode_events
from tocsin.events.resource_index import catch_up
from tocsin.events.store import SCHEMA
from tocsin.events.writer import INSERT

BATCH = 1000


def make_events(n: int, tag: str) -> list[dict]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    return [{
        "id": str(uuid.uuid4()),
        "occurred": (t0 + timedelta(milliseconds=i)).isoformat(),
        "event": f"bench.{tag}.{i % 20}",
        "resource": {"prefect.resource.id": f"bench.resource.{i % 500}", "env": "prod"},
        "related": [{"prefect.resource.id": "prefect.tag.bench", "prefect.resource.role": "tag"}],
        "payload": {"i": i, "note": "some payload text"},
    } for i in range(n)]


def raw_sqlite_rate(events: list[dict]) -> float:
    """The ceiling: the same rows, same schema, one executemany in one transaction."""
    parsed = decode_events(json.dumps(events).encode())
    now = datetime.now(UTC)
    for e in parsed:
        e.received = now
    rows = event_rows(parsed)
    path = Path(tempfile.mkdtemp(dir="/tmp")) / "raw.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    start = time.perf_counter()
    db.execute("BEGIN")
    db.executemany(INSERT, rows)
    catch_up(db, lag=0)  # and their resource index entries, which the store adds in bulk
    db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return len(rows) / elapsed


async def post_rate(sock: Path, events: list[dict], concurrency: int = 4) -> float:
    bodies = [json.dumps(events[i:i + BATCH]).encode() for i in range(0, len(events), BATCH)]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(sock))) as s:
        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                async with s.post("http://tocsin/events", data=body,
                                  headers={"Content-Type": "application/json"}) as r:
                    assert r.status == 201, await r.text()
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(events) / (time.perf_counter() - start)


async def ws_rate(sock: Path, events: list[dict]) -> float:
    messages = [json.dumps(e) for e in events]
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(sock))) as s:
        start = time.perf_counter()
        async with s.ws_connect("http://tocsin/events/in") as ws:
            for m in messages:
                await ws.send_str(m)
            await ws.close()  # the daemon completes the close only after committing all
        return len(events) / (time.perf_counter() - start)


def emit_times(sock: Path, runs: int = 15) -> list[float]:
    times = []
    for i in range(runs):
        start = time.perf_counter()
        subprocess.run(["tocsin", "--socket", str(sock), "emit", "bench.emit",
                        "--resource", f"prefect.resource.id=r.{i}"], check=True,
                       capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def count(d: DaemonProcess, prefix: str) -> int:
    with sqlite3.connect(d.home / "tocsin.db") as db:
        return db.execute("SELECT count(*) FROM events WHERE name IN "
                          "(SELECT id FROM event_names WHERE name GLOB ?)", (prefix + "*",)).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    n = parser.parse_args().events

    ceiling = raw_sqlite_rate(make_events(n, "raw"))
    d = DaemonProcess().start()
    try:
        post = asyncio.run(post_rate(d.socket, make_events(n, "post")))
        assert count(d, "bench.post.") == n
        ws = asyncio.run(ws_rate(d.socket, make_events(n, "ws")))
        assert count(d, "bench.ws.") == n
        emits = emit_times(d.socket)
        time.sleep(2)  # settled: a second after the last burst the daemon trims freed memory
        rss = rss_mb(d.proc.pid)
    finally:
        d.cleanup()

    print(f"events: {n:,} per path")
    print(f"raw sqlite3.executemany (ceiling): {ceiling:>10,.0f} events/s")
    print(f"POST /events, batches of {BATCH}:     {post:>10,.0f} events/s "
          f"= {post / ceiling:.0%} of raw (target >= 40%)")
    print(f"/events/in, one event a message:  {ws:>10,.0f} events/s (target >= 20,000)")
    print(f"tocsin emit whole process:         median {statistics.median(emits):.1f} ms, "
          f"min {min(emits):.1f} ms, max {max(emits):.1f} ms (target median < 80 ms)")
    print(f"daemon RSS after the run:          {rss:.1f} MB (target < 80 MB)")


if __name__ == "__main__":
    main()
