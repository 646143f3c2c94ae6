"""Actions benchmark: firing-to-webhook-received latency (p50/p99) and webhook actions per
second, against a local HTTP sink in its own process.

A real daemon (socket, SQLite in WAL, the actions component) runs in this process; each
firing is committed with its outbox rows exactly as the engine does it
(`daemon.ingest([state_change_event], extra=outbox_statements(...))`). The clock starts just
before that commit and stops when the sink (another process, same monotonic clock) has the
request. Targets: p50 < 5 ms, p99 < 25 ms, >= 1,000 actions/s.

    python tests/bench/actions.py [--latency N] [--throughput N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from actions_sinks import automation, firing_for, free_port
from tocsin.actions.component import ActionsComponent
from tocsin.config import Config
from tocsin.events.model import Event
from tocsin.server.daemon import Daemon, Paths

SINK = r"""
import json, sys, time
from aiohttp import web
arrivals = []
async def hook(request):
    body = await request.read()
    arrivals.append((time.monotonic(), json.loads(body)["t0"]))
    return web.Response(text="ok")
async def stats(request):
    out = [a - t0 for a, t0 in arrivals]
    arrivals.clear()
    return web.json_response({"latencies": out})
app = web.Application()
app.router.add_post("/hook", hook)
app.router.add_get("/stats", stats)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


async def wait_sink(url: str) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(200):
            try:
                async with s.get(f"{url}/stats"):
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise RuntimeError("sink did not start")


async def sink_latencies(url: str) -> list[float]:
    async with aiohttp.ClientSession() as s, s.get(f"{url}/stats") as resp:
        return (await resp.json())["latencies"]


async def commit_firing(daemon: Daemon, auto, component: ActionsComponent) -> None:
    event = Event(event="order.created", resource={"prefect.resource.id": "order.1"},
                  payload={"t0": time.monotonic()})
    firing, changed = firing_for(auto, event)
    await daemon.ingest([event, changed],
                        extra=component.outbox_statements(firing, auto, changed))


async def until_done(daemon: Daemon, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await daemon.store.read_sql(
            "SELECT count(*) FROM action_outbox WHERE status = 'done'")
        if rows[0][0] >= n:
            return
        await asyncio.sleep(0.01)
    raise RuntimeError("actions did not finish in time")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def main(latency_n: int, throughput_n: int) -> None:
    port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(port)])
    url = f"http://127.0.0.1:{port}"
    home = Path(tempfile.mkdtemp(prefix="tcb", dir="/tmp"))
    component = ActionsComponent()
    daemon = Daemon(Config(), Paths(home, home / "s.sock", None), components=[component])
    try:
        await wait_sink(url)
        await daemon.start()
        auto = automation([{"type": "call-webhook", "url": f"{url}/hook",
                            "payload": '{"t0": {{ event.payload.t0 }}, '
                                       '"order": "{{ event.resource.id }}"}'}])
        for _ in range(20):  # warm up: connections, template cache
            await commit_firing(daemon, auto, component)
        await until_done(daemon, 20)
        await sink_latencies(url)

        # Latency: one firing at a time, the next once the previous one was delivered.
        done = 20
        for _ in range(latency_n):
            await commit_firing(daemon, auto, component)
            done += 1
            await until_done(daemon, done)
        lat = [x * 1000 for x in await sink_latencies(url)]
        print(f"latency firing -> webhook received ({len(lat)} firings, one at a time): "
              f"p50 {statistics.median(lat):.2f} ms, p99 {pct(lat, 99):.2f} ms, "
              f"max {max(lat):.2f} ms")

        # Throughput: many firings committed at once (as a busy engine would), all delivered.
        started = time.monotonic()
        batch = 200
        for i in range(0, throughput_n, batch):
            await asyncio.gather(*(commit_firing(daemon, auto, component)
                                   for _ in range(min(batch, throughput_n - i))))
        await until_done(daemon, done + throughput_n)
        elapsed = time.monotonic() - started
        lat = [x * 1000 for x in await sink_latencies(url)]
        print(f"throughput: {throughput_n} webhook actions in {elapsed:.2f} s = "
              f"{throughput_n / elapsed:,.0f} actions/s (delivered and recorded, with their "
              f"events); latency under load p50 {statistics.median(lat):.1f} ms, "
              f"p99 {pct(lat, 99):.1f} ms")
        print(json.dumps({"status": component.status()}))
    finally:
        await daemon.stop()
        sink.terminate()
        sink.wait(10)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=int, default=500)
    parser.add_argument("--throughput", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(main(args.latency, args.throughput))
