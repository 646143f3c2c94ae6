"""Tailer benchmark (issue 6), against a real daemon subprocess with a `[[watch]]` source:

1. JSONL lines/s from a 1,000,000-line file until committed (the daemon's own counters say
   `lines_read` only after commit), beside a plain read-and-parse of the same file in this
   process (binary read, split, msgspec into Event: the ceiling for a Python tailer).
   Target: >= 50% of the ceiling.
2. Append-to-stored latency at 100 lines/s: each line carries its write time; the clock stops
   when the event arrives on /events/out, which publishes after commit. Target: p99 < 100 ms.
3. Idle CPU of the daemon with a watched file (utime+stime from /proc). Target: < 1% of a core.

Run: python tests/bench/tail.py [--lines 1000000] [--latency-seconds 10] [--idle-seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon_proc import DaemonProcess
from tocsin.client.aio import AsyncClient
from tocsin.events.model import Event


def write_file(path: Path, n: int) -> None:
    with open(path, "wb") as f:
        f.writelines(b"".join(
                b'{"event":"bench.line.%d","resource":{"prefect.resource.id":"bench.r.%d",'
                b'"env":"prod"},"payload":{"n":%d,"status":"ok"}}\n' % (i % 20, i % 500, i)
                for i in range(start, min(n, start + 10_000))) for start in range(0, n, 10_000))


def ceiling(path: Path) -> float:
    """Plain read-and-parse: the same file, binary reads, split, msgspec into Event."""
    decoder = msgspec.json.Decoder(Event)
    t0 = time.perf_counter()
    count = 0
    rest = b""
    with open(path, "rb") as f:
        while chunk := f.read(4 * 1024 * 1024):
            data = rest + chunk
            end = data.rfind(b"\n") + 1
            for raw in data[:end].split(b"\n")[:-1]:
                decoder.decode(raw)
                count += 1
            rest = data[end:]
    return count / (time.perf_counter() - t0)


def store_ceiling(path: Path, limit: int = 200_000) -> float:
    """What the event store's SQLite schema takes at most: rows already built, one
    executemany per 20,000, in a fresh WAL file (no parsing, no event loop)."""
    import sqlite3

    from rows import event_rows
    from tocsin.events.resource_index import catch_up
    from tocsin.events.store import SCHEMA
    from tocsin.events.writer import INSERT

    decoder = msgspec.json.Decoder(Event)
    with open(path, "rb") as f:
        events = [decoder.decode(raw) for raw, _ in zip(f, range(limit))]
    for e in events:
        e.received = e.occurred
    rows = event_rows(events)
    db = path.with_suffix(".db")
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(SCHEMA)
    t0 = time.perf_counter()
    for i in range(0, len(rows), 20_000):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, rows[i:i + 20_000])
        catch_up(conn)  # the resource index, in bulk as the store keeps it
        conn.execute("COMMIT")
    rate = len(rows) / (time.perf_counter() - t0)
    conn.close()
    db.unlink()
    return rate


async def tailer_and_store_only(path: Path) -> float:
    """The tailer into a bare EventStore in this process: no daemon, no engine, no bus."""
    from tocsin.events.store import EventStore
    from tocsin.sources import checkpoints
    from tocsin.sources.tailer import SourceSpec, TailSource

    store = EventStore(path.with_name("bare.db"))
    await store.open([checkpoints.SCHEMA])

    def commit(events: list[Event], extra: object) -> Callable[[], Awaitable[list[Event]]]:
        return functools.partial(store.submit, store.prepare(events, extra=extra))  # type: ignore[arg-type]

    source = TailSource(SourceSpec(name="bare", path=str(path), start="beginning"), commit,
                        store.read_sql)
    t0 = time.perf_counter()
    while await source.poll():
        pass
    rate = source.counters.lines_read / (time.perf_counter() - t0)
    source.close()
    await store.close()
    return rate


def watch_status(d: DaemonProcess, name: str) -> dict:
    with d.client() as c:
        return c.health()["components"]["watch"][name]


def throughput(d: DaemonProcess, watched: Path, staged: Path, n: int) -> float:
    """Move the staged file into the watched glob (files found later are read from 0) and
    time until the daemon reports every line committed."""
    t0 = time.perf_counter()
    staged.rename(watched / "big.jsonl")
    while True:
        status = watch_status(d, "bench")
        if status["lines_read"] >= n:
            return n / (time.perf_counter() - t0)
        time.sleep(0.02)


async def latency(d: DaemonProcess, path: Path, seconds: float) -> list[float]:
    """Append one line every 10 ms; measure write-to-published (after commit) per line."""
    got: list[float] = []
    total = int(seconds * 100)

    async def reader(ready: asyncio.Event) -> None:
        async with AsyncClient(d.socket) as client:
            stream = client.stream({"names": ["bench.latency"]})
            ready.set()
            async for event in stream:
                got.append(time.time() - event["payload"]["t"])
                if len(got) == total:
                    return

    ready = asyncio.Event()
    task = asyncio.create_task(reader(ready))
    await ready.wait()
    await asyncio.sleep(0.5)  # the websocket subscription is in place
    with open(path, "ab", buffering=0) as f:
        start = time.monotonic()
        for i in range(total):
            await asyncio.sleep(max(0.0, start + i / 100 - time.monotonic()))
            f.write(json.dumps({"event": "bench.latency",
                                "resource": {"prefect.resource.id": "bench.r"},
                                "payload": {"t": time.time(), "i": i}}).encode() + b"\n")
    await asyncio.wait_for(task, 30)
    return got


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--latency-seconds", type=float, default=10)
    ap.add_argument("--idle-seconds", type=float, default=20)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tailbench"))
    watched = tmp / "logs"
    watched.mkdir()
    staged = tmp / "big.jsonl"
    write_file(staged, args.lines)
    print(f"file: {args.lines:,} lines, {staged.stat().st_size / 1e6:.0f} MB")
    ceil = ceiling(staged)
    print(f"ceiling (read + split + msgspec into Event, this process): {ceil:,.0f} lines/s")
    print(f"for scale, SQLite alone (prebuilt rows into the events schema): "
          f"{store_ceiling(staged):,.0f} rows/s")

    bare = asyncio.run(tailer_and_store_only(staged))
    print(f"tailer into a bare EventStore (no daemon, no engine): {bare:,.0f} lines/s")

    config = tmp / "tocsin.toml"
    config.write_text(f'[[watch]]\nname = "bench"\npath = "{watched}/*.jsonl"\n'
                      'start = "beginning"\n')
    d = DaemonProcess(config=config).start()
    try:
        rate = throughput(d, watched, staged, args.lines)
        print(f"tailer (real daemon, until committed): {rate:,.0f} lines/s = "
              f"{100 * rate / ceil:.0f}% of the ceiling (target >= 50%)")

        lat = asyncio.run(latency(d, watched / "live.jsonl", args.latency_seconds))
        ms = [x * 1000 for x in lat]
        print(f"append-to-stored at 100 lines/s ({len(ms)} lines): p50 {statistics.median(ms):.1f} "
              f"ms, p99 {pct(ms, 0.99):.1f} ms, max {max(ms):.1f} ms (target p99 < 100 ms)")

        assert d.proc is not None
        time.sleep(2)
        c0, t0 = cpu_seconds(d.proc.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        idle = (cpu_seconds(d.proc.pid) - c0) / (time.monotonic() - t0)
        print(f"idle CPU of the whole daemon with watched files: {100 * idle:.2f}% of a core "
              f"over {args.idle_seconds:.0f}s (target < 1%)")
    finally:
        d.cleanup()


if __name__ == "__main__":
    main()
