"""Attack benchmark (issue 11): replays the attacks of the hardening issue against a real
daemon and prints peak RSS, worst and p99 `/health` latency (probed every 20 ms throughout),
events acknowledged vs stored, and log bytes written. Targets: RSS < 300 MB, /health p99 <
100 ms, 0 acknowledged events lost.

Attacks: NUL names beside innocent batches, NaN windows, JSON nested 100,000 deep, huge and
parallel bodies, 10,000 half-open connections, a reader that never reads, template bombs
through POST /templates/render and through an automation's action, and, as root, a full disk
on a small tmpfs.

Run: python tests/bench/attack.py [--half-open 10000]
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon_proc import DaemonProcess
from disk import fill, small_tmpfs
from tocsin.client.sync import _Connection

BOMBS = ["{{ 'x'.ljust(10**9) }}", "{{ '%0999999999d' | format(1) }}", "{{ 'x' * 10**9 }}",
         "{{ 'x'.center(10**9) }}", "{{ 'x'.zfill(10**9) }}", "{{ ','.join(['x'] * 10**8) }}"]


class Watch:
    """Probes /health every 20 ms and samples the daemon's RSS, in threads."""

    def __init__(self, d: DaemonProcess) -> None:
        self.d, self.latencies, self.peak_kib, self.failures = d, [], 0, 0
        self.finished: list[float] = []  # when each probe in `latencies` was answered
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True) for f in (self._probe, self._rss)]
        for t in self._threads:
            t.start()

    def _probe(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                conn = _Connection(str(self.d.socket), 10)
                status, _ = conn.exchange("GET", "/health", None)
                conn.close()
                if status != 200:
                    self.failures += 1
            except OSError:
                self.failures += 1
            self.latencies.append(time.perf_counter() - started)
            self.finished.append(time.perf_counter())
            time.sleep(0.02)

    def _rss(self) -> None:
        status = Path(f"/proc/{self.d.proc.pid}/status")
        while not self._stop.is_set():
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS"):
                        self.peak_kib = max(self.peak_kib, int(line.split()[1]))
            except OSError:
                return
            time.sleep(0.05)

    def worst_since(self, since: float) -> float:
        """The slowest /health answer (ms) among the probes answered after `since`."""
        return 1000 * max((lat for lat, at in zip(self.latencies, self.finished) if at >= since),
                          default=0.0)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(15)


def post(d: DaemonProcess, body: bytes, path: str = "/events") -> tuple[int, bytes]:
    try:
        conn = _Connection(str(d.socket), 60)
        try:
            return conn.exchange("POST", path, body)
        finally:
            conn.close()
    except OSError as exc:
        return 0, str(exc).encode()


def ev(name: str, **kw) -> dict:
    return {"id": str(uuid.uuid4()), "event": name,
            "resource": {"prefect.resource.id": "attack"}, **kw}


class Ledger:
    """Ids the daemon acknowledged; checked against the store at the end."""

    def __init__(self) -> None:
        self.acked: list[str] = []
        self._lock = threading.Lock()

    def post(self, d: DaemonProcess, events: list[dict]) -> int:
        status, _ = post(d, json.dumps(events).encode())
        if status == 201:
            with self._lock:
                self.acked += [e["id"] for e in events]
        return status

    def stored(self, d: DaemonProcess) -> int:
        db = d.home / "tocsin.db"
        import sqlite3

        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            have = {r[0] for r in conn.execute("SELECT id FROM events")}
        return sum(1 for i in self.acked if i in have)


def attack_nul(d: DaemonProcess, ledger: Ledger) -> str:
    batches = [[ev(f"innocent.{i}") for _ in range(50)] for i in range(40)]
    batches += [[ev("poison\u0000"), ev("beside.poison")]] * 10
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda b: ledger.post(d, b), batches))
    return f"innocent 201: {statuses[:40].count(201)}/40, poisoned 422: {statuses[40:].count(422)}/10"


def attack_nan(d: DaemonProcess) -> str:
    got = [post(d, json.dumps({"name": f"nan{i}", "actions": [], "trigger": {
        "expect": ["x"], "within": w, "threshold": 0}}).encode(), "/automations")[0]
        for i, w in enumerate(["nan", "inf", 1e308, "P99999999999W"])]
    return f"answers {got}"


def attack_deep(d: DaemonProcess) -> str:
    deep = b"[" * 100_000 + b"]" * 100_000
    got = [post(d, deep)[0], post(d, b'{"event": "a", "resource": {"prefect.resource.id": "x"}, '
                                      b'"payload": {"a": ' + deep + b"}}")[0]]
    trigger = '{"expect": ["x"]}'
    for _ in range(1000):
        trigger = '{"type": "compound", "require": "any", "triggers": [' + trigger + "]}"
    got.append(post(d, f'{{"name": "deep", "actions": [], "trigger": {trigger}}}'.encode(),
                    "/automations")[0])
    return f"answers {got}"


def attack_bodies(d: DaemonProcess) -> str:
    """8 parallel announced-250 MB bodies (sent in part), then 8 parallel 15 MB bodies."""
    def huge() -> int:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(str(d.socket))
        s.sendall(f"POST /events HTTP/1.1\r\nHost: t\r\nContent-Length: {250 * 2**20}\r\n"
                  "Content-Type: application/json\r\n\r\n".encode())
        try:
            s.sendall(b"[" + b" " * (8 * 2**20))
        except OSError:
            pass
        answer = s.recv(200)
        s.close()
        return int(answer.split()[1]) if answer else 0

    pad = "p" * 500_000
    big = json.dumps([ev("big", payload={"pad": pad}) for _ in range(30)]).encode()
    with ThreadPoolExecutor(8) as pool:
        huge_answers = list(pool.map(lambda _: huge(), range(8)))
        big_answers = list(pool.map(lambda _: post(d, big)[0], range(8)))
    return f"250 MB bodies: {sorted(huge_answers)}; 15 MB bodies: {sorted(big_answers)}"


def attack_half_open(d: DaemonProcess, n: int) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held, refused = [], 0
    for _ in range(min(n, hard - 200)):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(str(d.socket))
            s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Slow: ")
            held.append(s)
        except OSError:
            refused += 1
            s.close()
    started = time.perf_counter()
    status, _ = post(d, b"{}", "/events/filter")
    during = time.perf_counter() - started
    for s in held:
        s.close()
    return (f"{len(held)} held, {refused} refused; a query meanwhile: {status} in "
            f"{during * 1000:.0f} ms; one left alone is closed after {idle_close(d):.1f} s")


def idle_close(d: DaemonProcess) -> float:
    """Seconds until the daemon closes a connection whose headers never finish."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(d.socket))
    s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n")
    s.settimeout(60)
    started = time.perf_counter()
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()
    return time.perf_counter() - started


def attack_silent_reader(d: DaemonProcess, ledger: Ledger) -> str:
    """A /events/out reader that subscribes and never reads a byte."""
    from test_hardening import silent_reader

    s = silent_reader(d.socket, "flood")
    started = time.monotonic()
    while time.monotonic() - started < 60:
        ledger.post(d, [ev("flood", payload={"pad": "f" * 20_000}) for _ in range(50)])
        conn = _Connection(str(d.socket), 5)
        _, health = conn.exchange("GET", "/health", None)
        conn.close()
        if time.monotonic() - started > 1 and json.loads(health)["subscribers"] == 0:
            s.setblocking(False)
            closed = False
            try:
                while s.recv(1 << 20):
                    pass
                closed = True
            except BlockingIOError:
                pass
            except OSError:
                closed = True
            s.close()
            return (f"unsubscribed after {time.monotonic() - started:.1f} s; connection "
                    f"{'closed' if closed else 'NOT closed'}")
        time.sleep(0.3)
    s.close()
    return "still subscribed after 60 s"


def attack_bombs(d: DaemonProcess) -> str:
    """Each bomb through POST /templates/render, then as an automation's action payload."""
    from test_fuzz import bomb_in_an_action

    out = []
    for bomb in BOMBS:
        started = time.perf_counter()
        status, _ = post(d, json.dumps({"template": bomb}).encode(), "/templates/render")
        rendered = time.perf_counter() - started
        bomb_in_an_action(d, bomb)
        out.append(f"{status} in {rendered:.1f} s, action failed after "
                   f"{time.perf_counter() - started - rendered:.1f} s")
    return "; ".join(out)


def disk_full() -> str:
    with small_tmpfs("8m") as where:
        if where is None:
            return "skipped (mounting a tmpfs needs root)"
        d = DaemonProcess(home=where / "home").start()
        ledger = Ledger()
        try:
            filler = fill(where)
            answers = [ledger.post(d, [ev("full", payload={"pad": "z" * 30_000})])
                       for _ in range(100)]
            filler.unlink()
            after = ledger.post(d, [ev("after.space")])
            d.stop()
            d.start()
            stored = ledger.stored(d)
            return (f"answers while full: {sorted(set(answers))} ({answers.count(507)} x 507); "
                    f"after freeing: {after}; acknowledged {len(ledger.acked)}, stored after "
                    f"restart {stored}, lost {len(ledger.acked) - stored}; log "
                    f"{d.log_path.stat().st_size} bytes")
        finally:
            d.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--half-open", type=int, default=10_000)
    args = parser.parse_args()
    d = DaemonProcess().start()
    watch = Watch(d)
    ledger = Ledger()
    try:
        for name, attack in [("NUL", lambda: attack_nul(d, ledger)), ("NaN", lambda: attack_nan(d)),
                             ("deep JSON", lambda: attack_deep(d)),
                             ("bodies", lambda: attack_bodies(d)),
                             ("half-open", lambda: attack_half_open(d, args.half_open)),
                             ("silent reader", lambda: attack_silent_reader(d, ledger)),
                             ("template bombs", lambda: attack_bombs(d))]:
            started = time.perf_counter()
            outcome = attack()
            time.sleep(0.3)  # a probe waiting on the attack's last moments is counted in it
            print(f"{name:<15} {outcome}  ({time.perf_counter() - started:.1f} s, /health worst "
                  f"{watch.worst_since(started):.0f} ms)", flush=True)
        watch.stop()
        d.stop()
        d.start()
        stored = ledger.stored(d)
    finally:
        watch.stop()
        log_bytes = d.log_path.stat().st_size if d.log_path.exists() else 0
        d.cleanup()
    lat = sorted(watch.latencies)
    p99 = lat[int(len(lat) * 0.99) - 1] if lat else float("nan")
    print(f"peak RSS           {watch.peak_kib / 1024:.0f} MB (target < 300)")
    print(f"/health            {len(lat)} probes, p50 {statistics.median(lat) * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms, worst {lat[-1] * 1000:.1f} ms, {watch.failures} failed "
          "(target p99 < 100 ms)")
    print(f"acknowledged       {len(ledger.acked)}, stored after restart {stored}, lost "
          f"{len(ledger.acked) - stored} (target 0)")
    print(f"log                {log_bytes} bytes")
    print(f"disk full          {disk_full()}")


if __name__ == "__main__":
    main()
