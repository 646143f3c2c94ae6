"""Scale benchmark (issue 13): how cost grows with history, automation count and open windows.

Prints, in one run:
- loop guard: firings of a for_each threshold-3 automation fed 1,000 resources x 3 events
  on the default config (and whether it was paused);
- pure engine events/s with 10 / 1,000 / 10,000 automations, exact and glob `expect`;
- time to apply 10,000 automations with `tocsin automation apply -f`;
- live `POST /events` rate with 10 and with 10,000 mixed automations;
- bytes of RSS per open for_each bucket at 100k and 1M buckets, and their restore time;
- ingest rate at 0 / 1M / 5M stored, WAL and database size during and after retention;
- firing -> action start latency with the action worker at half its throughput;
- the tailer's rate against the store's own bulk path for the same events.

Run: python tests/bench/scale.py [--quick] [--only loop,engine,...]
`--quick` shrinks every size (1M -> 100k, 5M -> 300k, 10,000 -> 2,000) to check the bench
itself; the issue's figures come from a full run. Compare ratios within one run: the machine
is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the other benches' helpers

from daemon_proc import DaemonProcess
from tocsin.automations.engine import Engine
from tocsin.automations.model import parse_automation
from tocsin.client.sync import build_event
from tocsin.events.model import Event

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TOCSIN = [sys.executable, "-m", "tocsin.cli.main"]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait_until(check: Any, timeout: float, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(every)


def post_events(client: Any, events: list[dict], batch: int = 1000) -> None:
    for i in range(0, len(events), batch):
        client.request("POST", "/events", events[i:i + batch])


# -- the loop guard ---------------------------------------------------------------------------
def bench_loop(sizes: dict[str, int]) -> None:
    daemon = DaemonProcess().start()
    try:
        with daemon.client() as c:
            created = c.request("POST", "/automations/", {
                "name": "busy", "actions": [],
                "trigger": {"expect": ["order.step"], "for_each": ["prefect.resource.id"],
                            "threshold": 3, "within": 60}})
            events = [build_event("order.step", {"prefect.resource.id": f"order.{r}"})
                      for _ in range(3) for r in range(1000)]
            post_events(c, events)

            def fired() -> int:
                return len(c.filter_events(names=["prefect.automation.triggered"],
                                           limit=5000)["events"])
            wait_until(lambda: fired() >= 1000, 30)
            time.sleep(0.5)
            paused = c.filter_events(names=["tocsin.automation.paused"])["events"]
            enabled = c.request("GET", f"/automations/{created['id']}")["enabled"]
            print(f"loop guard, 1,000 resources x 3 events, defaults: fired {fired()} times, "
                  f"paused {len(paused)} times, still enabled: {enabled}   (before: 300, paused)")
    finally:
        daemon.cleanup()


# -- the pure engine ------------------------------------------------------------------------
def engine_rate(automations: int, glob: bool, n: int) -> float:
    engine = Engine()
    for i in range(automations):
        expect = f"svc.{i}.*" if glob else f"m.{i}"
        a = parse_automation({"name": f"a{i}", "actions": [], "trigger": {"expect": [expect]}})
        a.id = str(uuid.uuid4())
        engine.load(a, T0.timestamp())
    rng = random.Random(1)
    events = []
    for j in range(n):
        t = T0 + timedelta(milliseconds=j)
        if rng.random() < 0.1:
            i = rng.randrange(automations)
            name = f"svc.{i}.up" if glob else f"m.{i}"
        else:
            name = f"noise.{rng.randrange(5000)}.x"
        events.append(Event(event=name, occurred=t, received=t,
                            resource={"prefect.resource.id": f"host.{rng.randrange(7)}"}))
    start = time.perf_counter()
    for event in events:
        engine.process(event, event.occurred.timestamp())
    return n / (time.perf_counter() - start)


def bench_engine(sizes: dict[str, int]) -> None:
    n = sizes["engine_events"]
    for glob in (False, True):
        rates = {count: max(engine_rate(count, glob, n) for _ in range(2))
                 for count in (10, 1000, sizes["automations"])}
        kind = "glob " if glob else "exact"
        line = ", ".join(f"{count:,}: {rate:,.0f}/s" for count, rate in rates.items())
        ratio = rates[10] / rates[sizes["automations"]]
        print(f"pure engine, {kind} expect: {line}  ({ratio:.2f}x slower with "
              f"{sizes['automations']:,} than 10)"
              + ("   (before: glob 10k 6.1k/s, 10 541k/s)" if glob else ""))


# -- applying many automations ----------------------------------------------------------------
def mixed_trigger(i: int) -> dict:
    """Exact names, globs, label matches and for_each, as a busy installation has."""
    k = i % 4
    if k == 0:
        return {"expect": [f"m.{i}"], "threshold": 3, "within": 60}
    if k == 1:
        return {"expect": [f"svc.{i}.*"]}
    if k == 2:
        return {"expect": [f"m.{i}"], "match": {"env": f"e{i % 50}"}}
    return {"expect": [f"m.{i}"], "for_each": ["prefect.resource.id"], "threshold": 2,
            "within": 30}


def write_automations(path: Path, count: int) -> None:
    path.write_text(json.dumps([{"name": f"a{i}", "trigger": mixed_trigger(i), "actions": []}
                                for i in range(count)]))


def bench_apply(sizes: dict[str, int]) -> None:
    """`automation apply -f` of many automations into a fresh daemon, as JSON and as YAML."""
    import yaml

    count = sizes["automations"]
    docs = [{"name": f"a{i}", "trigger": mixed_trigger(i), "actions": []} for i in range(count)]
    took = {}
    for fmt, dump in (("JSON", json.dumps), ("YAML", yaml.safe_dump)):
        daemon = DaemonProcess().start()
        try:
            path = daemon.dir / f"many.{fmt.lower()}"
            path.write_text(dump(docs))
            start = time.perf_counter()
            out = subprocess.run([*TOCSIN, "--socket", str(daemon.socket), "automation",
                                  "apply", "-f", str(path)], capture_output=True, text=True,
                                 timeout=600)
            took[fmt] = time.perf_counter() - start
            assert out.returncode == 0, out.stderr
        finally:
            daemon.cleanup()
    print(f"apply {count:,} automations: JSON {took['JSON']:.2f} s, YAML {took['YAML']:.2f} s"
          "   (before: 27 s for 10,000)")


# -- live ingest with many automations --------------------------------------------------------
def live_rate(count: int, n: int) -> float:
    daemon = DaemonProcess().start()
    try:
        path = daemon.dir / "many.json"
        write_automations(path, count)
        subprocess.run([*TOCSIN, "--socket", str(daemon.socket), "automation", "apply",
                        "-f", str(path)], capture_output=True, check=True, timeout=600)
        rng = random.Random(3)
        events = []
        for _ in range(n):
            i = rng.randrange(count)
            name = rng.choice([f"m.{i}", f"svc.{i}.up", f"noise.{i}"])
            events.append(build_event(name, {"prefect.resource.id": f"r.{rng.randrange(500)}",
                                             "env": f"e{i % 50}"}))
        with daemon.client() as c:
            start = time.perf_counter()
            post_events(c, events)
            return n / (time.perf_counter() - start)
    finally:
        daemon.cleanup()


def bench_live(sizes: dict[str, int]) -> None:
    n = sizes["live_events"]
    few = live_rate(10, n)
    many = live_rate(sizes["automations"], n)
    print(f"live POST /events: 10 automations {few:,.0f}/s, {sizes['automations']:,} mixed "
          f"{many:,.0f}/s ({few / many:.2f}x)   (before: 17,735 -> 213/s)")


# -- open windows ------------------------------------------------------------------------------
def open_buckets(daemon: DaemonProcess, count: int) -> None:
    with daemon.client() as c:
        c.request("POST", "/automations/", {
            "name": "windows", "actions": [],
            "trigger": {"expect": ["order.step"], "for_each": ["prefect.resource.id"],
                        "threshold": 3, "within": 86400}})
        batch = 5000
        for i in range(0, count, batch):
            c.request("POST", "/events", [
                build_event("order.step", {"prefect.resource.id": f"order.{j}"})
                for j in range(i, min(count, i + batch))])

        def opened() -> bool:
            return c.health()["components"]["engine"]["buckets"] >= count
        wait_until(opened, 600, every=0.5)


def bench_buckets(sizes: dict[str, int]) -> None:
    for count in sorted({100_000, sizes["buckets"]}):
        daemon = DaemonProcess().start()
        try:
            assert daemon.proc is not None
            time.sleep(1)
            before = rss_kib(daemon.proc.pid)
            open_buckets(daemon, count)
            time.sleep(2)  # the writer gives memory back after a burst
            after = rss_kib(daemon.proc.pid)
            daemon.stop(timeout=120)
            start = time.perf_counter()
            daemon.start(timeout=300)
            restored = time.perf_counter() - start
            with daemon.client() as c:
                back = c.health()["components"]["engine"]["buckets"]
            again = rss_kib(daemon.proc.pid)
            print(f"{count:,} open for_each buckets: {(after - before) * 1024 / count:,.0f} bytes "
                  f"each (RSS {before / 1024:.0f} -> {after / 1024:.0f} MB); restart restores "
                  f"{back:,} in {restored:.2f} s, RSS then {again / 1024:.0f} MB   "
                  "(before: ~1.4 KB each, 100k: 49 -> 185 MB, 257 MB after a restart)")
        finally:
            daemon.cleanup()


# -- ingest as the store grows, the WAL, retention -----------------------------------------
def ingest_events(n: int, offset: int, random_ids: bool = False) -> list[dict]:
    """Events from 10,000 resources; ids time-ordered (uuid7, as tocsin's clients make them)
    or random (uuid4, as other clients may)."""
    return [build_event(f"bench.{(offset + i) % 20}",
                        {"prefect.resource.id": f"bench.resource.{(offset + i) % 10_000}",
                         "env": "prod"}, payload={"i": offset + i, "note": "some payload text"},
                        id=str(uuid.uuid4()) if random_ids else None)
            for i in range(n)]


class Sizes:
    """The largest WAL and database file seen while sampling."""

    def __init__(self, home: Path) -> None:
        self.db, self.wal = home / "tocsin.db", home / "tocsin.db-wal"
        self.max_wal = self.max_db = 0

    def sample(self) -> tuple[int, int]:
        db = self.db.stat().st_size if self.db.exists() else 0
        wal = self.wal.stat().st_size if self.wal.exists() else 0
        self.max_wal, self.max_db = max(self.max_wal, wal), max(self.max_db, db)
        return db, wal


def fill(c: Any, sizes: Sizes, n: int, offset: int, random_ids: bool = False) -> float:
    """POST n events in batches of 1,000 (built outside the timing); returns events/s."""
    took = 0.0
    for i in range(0, n, 10_000):
        events = ingest_events(min(10_000, n - i), offset + i, random_ids)
        start = time.perf_counter()
        post_events(c, events)
        took += time.perf_counter() - start
        sizes.sample()
    return n / took


async def _fill_direct(db: Path, n: int, offset: int) -> None:
    """n events of `ingest_events` through the store's own bulk path (EventStore, no HTTP, no
    engine), the next batch built while the previous one commits."""
    import msgspec
    from tocsin.events.store import EventStore

    store = EventStore(db)
    await store.open()
    try:
        pending: list[Any] = []
        for i in range(0, n, 20_000):
            batch = msgspec.convert(ingest_events(min(20_000, n - i), offset + i), list[Event])
            pending.append(asyncio.ensure_future(store.submit(store.prepare(batch))))
            if len(pending) > 2:
                await pending.pop(0)
        await asyncio.gather(*pending)
    finally:
        await store.close()


def fill_direct(daemon: DaemonProcess, sizes: Sizes, n: int, offset: int) -> None:
    """Stop the daemon, store n events straight into its database, start it again: a
    large store made in a fraction of the time POSTing it takes."""
    daemon.stop(timeout=300)
    asyncio.run(_fill_direct(daemon.home / "tocsin.db", n, offset))
    sizes.sample()
    daemon.start(timeout=300)


def mb(n: int) -> str:
    return f"{n / 1024 / 1024:,.0f} MB"


def old_events(home: Path, before: datetime) -> int:
    """Stored events that occurred before `before` (read-only, one short query)."""
    with sqlite3.connect(f"file:{home / 'tocsin.db'}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM events WHERE occurred < ?",
                          (int(before.timestamp() * 1_000_000),)).fetchone()[0]


def bench_ingest(sizes: dict[str, int], direct: bool = False) -> None:
    """`direct` fills the store between milestones through the store's bulk path with the
    daemon stopped (`ingest-direct`); the rates are measured through POST /events all the
    same."""
    stored, probe = sizes["stored"], sizes["probe"]
    milestones = [0, stored // 5, stored]  # 0 / 1M / 5M on a full run
    daemon = DaemonProcess().start()
    home = daemon.home
    disk = Sizes(home)
    rates, random_rates = {}, {}
    try:
        done = 0
        for mark in milestones:
            if mark > done and direct:  # all but the last `probe` straight into the store
                fill_direct(daemon, disk, mark - done - probe, done)
                done = mark - probe
            with daemon.client() as c:
                c.timeout = 120
                if mark > done:  # through the daemon (after a direct fill: warms its caches)
                    fill(c, disk, mark - done, done)
                    done = mark
                rates[mark] = fill(c, disk, probe, done)
                done += probe
                random_rates[mark] = fill(c, disk, probe // 3, done, random_ids=True)
                done += probe // 3
                print(f"  {rates[mark]:,.0f}/s at {mark:,} stored (uuid4 ids: "
                      f"{random_rates[mark]:,.0f}/s)", flush=True)
            db, wal = disk.sample()
        print("ingest POST /events: " + ", ".join(
            f"{rate:,.0f}/s at {mark:,} stored" for mark, rate in rates.items())
            + f"  ({rates[0] / rates[stored]:.2f}x slower at {stored:,})"
            + "   (before: ~56k/s empty, ~23k/s beyond 1M)")
        print("  with random (uuid4) ids: " + ", ".join(
            f"{rate:,.0f}/s at {mark:,}" for mark, rate in random_rates.items())
            + f"  ({random_rates[0] / random_rates[stored]:.2f}x)")
        print(f"  during {done:,} events: WAL at most {mb(disk.max_wal)}, database {mb(db)}, "
              f"WAL at the end {mb(wal)}   (before: WAL 10.8 GB beside 1.08 GB at 2.2M, "
              "25.4 GB beside 2.43 GB at 5M)")
        daemon.stop(timeout=300)
        stopped = datetime.now(UTC)
        config = daemon.dir / "retention.toml"
        config.write_text('retention = "30s"\nprune_interval = "5s"\n')
        daemon.config = config
        time.sleep(31)  # everything stored is now older than the retention
        disk.max_wal = 0
        daemon.start(timeout=120)
        with daemon.client() as c:
            c.timeout = 120
            wait_until(lambda: old_events(home, stopped) == 0, 900, every=1)
            pruned_db, pruned_wal = disk.sample()
            print(f"  after pruning all {done:,}: database {mb(pruned_db)}, WAL {mb(pruned_wal)} "
                  f"(at most {mb(disk.max_wal)} while pruning)   (before: WAL 5.77 GB after "
                  "pruning 1M, not truncated)")
            again = min(stored, 1_000_000)
            fill(c, disk, again, done)
            db2, wal2 = disk.sample()
            print(f"  {again:,} more under a 30 s retention: database {mb(pruned_db)} -> "
                  f"{mb(db2)} (freed pages reused), WAL {mb(wal2)}, at most {mb(disk.max_wal)}")
    finally:
        daemon.cleanup()


# -- firing -> action start at half the worker's throughput ------------------------------------
async def _actions_at_half(n: int) -> None:
    import actions as bench_actions  # tests/bench/actions.py: its sink and helpers
    from actions_sinks import automation, free_port
    from tocsin.actions.component import ActionsComponent
    from tocsin.config import Config
    from tocsin.server.daemon import Daemon, Paths, tune_gc

    tune_gc()  # as `tocsin daemon` does (run_daemon): the daemon's collector, not Python's default
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", bench_actions.SINK, str(port)])
    url = f"http://127.0.0.1:{port}"
    home = Path(tempfile.mkdtemp(prefix="tcb", dir="/tmp"))
    component = ActionsComponent()
    daemon = Daemon(Config(), Paths(home, home / "s.sock", None), components=[component])
    try:
        await bench_actions.wait_sink(url)
        await daemon.start()
        auto = automation([{"type": "call-webhook", "url": f"{url}/hook",
                            "payload": '{"t0": {{ event.payload.t0 }}}'}])
        done = 0
        # action start: when the worker takes the job up (timed around its own entry point)
        starts: list[float] = []
        worker = component.worker
        assert worker is not None
        execute = worker.execute

        async def timed(job: Any) -> Any:
            starts.append((time.monotonic() - job.event.payload["t0"]) * 1000)
            return await execute(job)

        worker.execute = timed  # type: ignore[method-assign]

        async def burst(count: int) -> float:
            """All at once, as the old bench's "under load" did; returns actions/s."""
            nonlocal done
            started = time.monotonic()
            for i in range(0, count, 200):
                await asyncio.gather(*(bench_actions.commit_firing(daemon, auto, component)
                                       for _ in range(min(200, count - i))))
            done += count
            await bench_actions.until_done(daemon, done, timeout=600)
            return count / (time.monotonic() - started)

        await burst(200)  # warm up
        await bench_actions.sink_latencies(url)
        peak = await burst(n)
        saturated = [x * 1000 for x in await bench_actions.sink_latencies(url)]
        rate = peak / 2
        starts.clear()
        started = time.monotonic()
        for i in range(n):  # one firing every 1/rate s, each committed on its own
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
            asyncio.ensure_future(bench_actions.commit_firing(daemon, auto, component))
        done += n
        await bench_actions.until_done(daemon, done, timeout=600)
        half = [x * 1000 for x in await bench_actions.sink_latencies(url)]
        print(f"actions: worker peak {peak:,.0f} webhook actions/s; saturated (all {n:,} "
              f"queued at once, the old 'under load'): firing -> webhook p50 "
              f"{pct(saturated, .5):.0f} ms, p99 {pct(saturated, .99):.0f} ms")
        print(f"  at half the peak ({rate:,.0f} firings/s, paced): firing -> action start "
              f"p50 {pct(starts, .5):.1f} ms, p99 {pct(starts, .99):.1f} ms (target p99 < 50 ms); "
              f"-> webhook received (sink process) p50 {pct(half, .5):.1f} ms, "
              f"p99 {pct(half, .99):.1f} ms   (before: p50 940 ms 'under load')")
        print(f"  load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        await daemon.stop()
        sink.terminate()
        sink.wait(10)
        import shutil
        shutil.rmtree(home, ignore_errors=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def bench_actions(sizes: dict[str, int]) -> None:
    asyncio.run(_actions_at_half(sizes["actions"]))


# -- the tailer against the store's own bulk path ----------------------------------------------
async def store_bulk_rate(path: Path, parse_inside: bool) -> float:
    """The same events through EventStore.append in batches of 10,000, the next batch made
    while the previous one commits: what the store takes. `parse_inside` times the JSON
    decoding of the lines too (as the tailer must do it); else they are parsed beforehand."""
    import msgspec
    from tocsin.events.store import EventStore

    decoder = msgspec.json.Decoder(Event)
    lines = path.read_bytes().splitlines()
    parsed = None if parse_inside else [decoder.decode(line) for line in lines]
    db = path.with_name(f"bulk{int(parse_inside)}.db")
    store = EventStore(db)
    await store.open()
    try:
        start = time.perf_counter()
        pending: list[Any] = []
        for i in range(0, len(lines), 10_000):
            batch = (parsed[i:i + 10_000] if parsed is not None
                     else [decoder.decode(line) for line in lines[i:i + 10_000]])
            pending.append(asyncio.ensure_future(store.submit(store.prepare(batch))))
            if len(pending) > 2:
                await pending.pop(0)
        await asyncio.gather(*pending)
        return len(lines) / (time.perf_counter() - start)
    finally:
        await store.close()


def bench_tail(sizes: dict[str, int]) -> None:
    import tail as bench_tail_module  # tests/bench/tail.py

    n = sizes["tail_lines"]
    tmp = Path(tempfile.mkdtemp(prefix="tcsscale", dir="/tmp"))
    watched = tmp / "logs"
    watched.mkdir()
    staged = tmp / "big.jsonl"
    bench_tail_module.write_file(staged, n)
    bulk = asyncio.run(store_bulk_rate(staged, parse_inside=False))
    bulk_parsing = asyncio.run(store_bulk_rate(staged, parse_inside=True))
    config = tmp / "tocsin.toml"
    config.write_text(f'[[watch]]\nname = "bench"\npath = "{watched}/*.jsonl"\n'
                      'start = "beginning"\n')
    daemon = DaemonProcess(config=config).start()
    try:
        rate = bench_tail_module.throughput(daemon, watched, staged, n)
    finally:
        daemon.cleanup()
    print(f"tailer (real daemon, {n:,} JSONL lines until committed) {rate:,.0f} lines/s; the "
          f"store's bulk path (EventStore.append) {bulk:,.0f}/s with events parsed beforehand: "
          f"{100 * rate / bulk:.0f}%, {bulk_parsing:,.0f}/s parsing the lines too: "
          f"{100 * rate / bulk_parsing:.0f}% (target >= 80%)")


SECTIONS = {"loop": bench_loop, "engine": bench_engine, "apply": bench_apply,
            "live": bench_live, "buckets": bench_buckets, "ingest": bench_ingest,
            "ingest-direct": lambda sizes: bench_ingest(sizes, direct=True),
            "actions": bench_actions, "tail": bench_tail}

FULL = {"automations": 10_000, "engine_events": 200_000, "live_events": 50_000,
        "buckets": 1_000_000, "stored": 5_000_000, "probe": 100_000,
        "actions": 5_000, "tail_lines": 1_000_000}
QUICK = {"automations": 2_000, "engine_events": 50_000, "live_events": 10_000,
         "buckets": 100_000, "stored": 300_000, "probe": 30_000,
        "actions": 1_000, "tail_lines": 200_000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the bench")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections: {', '.join(SECTIONS)}")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    for name in args.only.split(","):
        SECTIONS[name](sizes)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
