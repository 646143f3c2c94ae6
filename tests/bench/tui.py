"""Dashboard benchmark: time to first screen, and how the feed holds up under 5,000 events/s.

Runs a real daemon, opens the dashboard headless (Textual's run_test, so it renders every
frame but writes to no terminal), and emits events from a separate process at a steady rate
over /events/in. Prints:
- time to first screen (import of the dashboard included) and to the connected feed;
- the longest main-thread stall: the largest delay of a 5 ms timer on the app's event loop
  (every UI update, the stream's decoding and rendering run on that loop), and how much of
  it the app itself was running (CPU time), as opposed to waiting for a core on a busy box;
- the feed lag: how long after it was emitted an event is on screen (max and p99);
- how many of the emitted events reached the feed;
- the app's main-thread CPU share during the flood, and the load average: on a shared box
  most of a stall is waiting for a core, which the app's own figures (CPU in the stall, the
  longest busy stretch) leave out.

Before the flood, every main screen (screen_list.MAIN_SCREENS) is opened once, as a user
would, and the flood is then watched from the feed (or from `--show MODE`); `--no-screens`
skips that, for comparison.

Usage: python tests/bench/tui.py [--rate 5000] [--seconds 10] [--show MODE] [--no-screens]
Targets (issue 5, issue 18): first screen < 1 s; no stall > 100 ms with every screen open.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon_proc import DaemonProcess

BATCH_EVERY = 0.01


async def emit_steadily(socket: str, rate: int, seconds: float) -> None:
    """Emit `rate` events/s for `seconds`, in small batches every 10 ms (a steady flood)."""
    from tocsin.client.aio import AsyncClient
    from tocsin.client.sync import build_event

    per_batch = max(1, int(rate * BATCH_EVERY))

    async def batches():
        start = time.monotonic()
        n = 0
        total = int(rate * seconds)
        while n < total:
            yield [build_event("bench.tui", {"prefect.resource.id": f"bench.{n + i}"})
                   for i in range(min(per_batch, total - n))]
            n += per_batch
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    async with AsyncClient(socket) as client:
        await client.send_stream(batches())


async def open_every_screen(pilot: Any, show: str) -> list[str]:
    """Open each main screen once (a moment each, so it loads), then go to `show`."""
    from tocsin_tui.screen_list import MAIN_SCREENS

    for screen in MAIN_SCREENS:
        await pilot.app.switch_mode(screen.mode)
        await pilot.pause(0.3)
    await pilot.app.switch_mode(show)
    await pilot.pause(0.3)
    return [s.mode for s in MAIN_SCREENS]


async def run_dashboard(socket: str, rate: int, seconds: float, t0: float, show: str,
                        screens: bool) -> None:
    from tocsin_tui.app import TocsinApp

    app = TocsinApp(socket, autostart=False, freeze_screens=True)
    gc.freeze()  # as tocsin_tui.app.run does
    lags: list[float] = []
    stalls: list[float] = []
    busy: list[float] = []  # main-thread CPU time within each timer interval
    seen = 0

    def on_events(new: list[dict]) -> None:
        nonlocal seen
        now = datetime.now(UTC)
        for e in new:
            if e["event"] == "bench.tui":
                seen += 1
        newest = datetime.fromisoformat(new[-1]["occurred"])
        lags.append((now - newest).total_seconds())

    async def watch_loop(stop: asyncio.Event) -> None:
        while not stop.is_set():
            t, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.005)
            stalls.append(time.perf_counter() - t - 0.005)
            busy.append(time.thread_time() - cpu)

    async with app.run_test(size=(120, 40)) as pilot:
        first_screen = time.perf_counter() - t0
        while not app.connection.connected:
            await pilot.pause(0.01)
        connected = time.perf_counter() - t0
        opened = await open_every_screen(pilot, show) if screens else [show]
        app.feed_listeners.append(on_events)
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_loop(stop))
        emitter = subprocess.Popen([sys.executable, __file__, "--emit-only", socket,
                                    "--rate", str(rate), "--seconds", str(seconds)])
        # asyncio.sleep, not pilot.pause: pilot.pause renders the whole screen at once each
        # time it is called, a frame the app itself would not draw (this loop's polling
        # was most of the longest stalls measured before).
        while emitter.poll() is None:
            await asyncio.sleep(0.05)
        expected = int(rate * seconds)
        deadline = time.monotonic() + 10
        while seen < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await watcher
        rows = len(app.screen_stack[0].query_one("EventList").rows) if show == "feed" else 0

    lags.sort()
    print(f"time to first screen:    {first_screen * 1000:7.0f} ms (import included)")
    print(f"time to connected feed:  {connected * 1000:7.0f} ms")
    print(f"events emitted:          {expected:7d} at {rate}/s for {seconds:.0f} s")
    print(f"events reached the feed: {seen:7d} (list bounded to {rows} rows)")
    print(f"screens opened before:   {', '.join(opened)}; shown during the flood: {show}")
    print(f"longest main-loop stall: {max(stalls) * 1000:7.1f} ms "
          f"(p99 {sorted(stalls)[int(len(stalls) * 0.99)] * 1000:.1f} ms)")
    worst = max(range(len(stalls)), key=stalls.__getitem__)
    print(f"  the app ran in it:     {busy[worst] * 1000:7.1f} ms (main-thread CPU time; the "
          "rest it waited for a core)")
    print(f"longest busy stretch:    {max(busy) * 1000:7.1f} ms of main-thread CPU between "
          "two ticks of the timer")
    watched = sum(stalls) + 0.005 * len(stalls)  # seconds the timer ran
    print(f"app CPU during the flood:{sum(busy) / watched:8.0%} of one core (main thread)")
    print(f"load average (1 min):    {os.getloadavg()[0]:7.2f} on {os.cpu_count()} cores")
    if lags:
        print(f"feed lag (emit→screen):  max {lags[-1] * 1000:.0f} ms, "
              f"p99 {lags[int(len(lags) * 0.99)] * 1000:.0f} ms, "
              f"median {lags[len(lags) // 2] * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--emit-only", metavar="SOCKET")
    parser.add_argument("--show", default="feed", help="the screen shown during the flood")
    parser.add_argument("--no-screens", action="store_true",
                        help="do not open the other screens first")
    args = parser.parse_args()
    if args.emit_only:
        asyncio.run(emit_steadily(args.emit_only, args.rate, args.seconds))
        return
    daemon = DaemonProcess().start()
    try:
        t0 = time.perf_counter()
        asyncio.run(run_dashboard(str(daemon.socket), args.rate, args.seconds, t0, args.show,
                                  not args.no_screens))
    finally:
        daemon.cleanup()


if __name__ == "__main__":
    main()
