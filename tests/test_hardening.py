"""Issue 11 (hardening) against a real daemon: input the store cannot keep is refused with
the field named, one caller's bad rows never cost another caller its events, a source moves
past a line the store refuses, and bodies and connections are bounded."""

from __future__ import annotations

import asyncio
import json
import shlex
import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
from daemon_proc import DaemonProcess
from tocsin.client.sync import _Connection
from tocsin.config import Config
from tocsin.events.model import SLICE_BYTES
from tocsin.server.daemon import Daemon, Paths

TOCSIN = [sys.executable, "-m", "tocsin.cli.main"]
RID = {"prefect.resource.id": "r"}
#: Installed in a running daemon's database: the store refuses any event whose payload says
#: "poison" — a real failure of the real store, for rows that passed validation.
POISON_TRIGGER = """CREATE TRIGGER IF NOT EXISTS poison BEFORE INSERT ON events
    WHEN instr(NEW.data, CAST('"poison"' AS BLOB)) > 0
    BEGIN SELECT RAISE(ABORT, 'poisoned row'); END;"""


def post(d, body: bytes, path: str = "/events") -> tuple[int, object]:
    """A raw POST over the socket (our client would refuse to send some of these)."""
    conn = _Connection(str(d.socket), 30)
    try:
        status, raw = conn.exchange("POST", path, body)
    finally:
        conn.close()
    return status, json.loads(raw) if raw else None


def ev(name: str, **kw) -> dict:
    return {"event": name, "resource": dict(RID), **kw}


def names(d, pattern: str) -> list[str]:
    with d.client() as c:
        found = c.filter_events(names=[pattern], limit=10_000, order="oldest")["events"]
    return [e["event"] for e in found]


def poison(d) -> None:
    with sqlite3.connect(d.home / "tocsin.db", timeout=10) as db:
        db.execute(POISON_TRIGGER)


def wait_until(cond, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_nul_in_a_name_label_or_resource_id_is_refused_naming_the_field(daemon):
    cases = {
        "$.event": ev("a\u0000b"),
        "$.resource": {"event": "n", "resource": {"prefect.resource.id": "x\u0000"}},
        "$.related[0]": ev("n", related=[{"prefect.resource.id": "o",
                                          "prefect.resource.role": "r\u0000"}]),
    }
    for loc, body in cases.items():
        status, answer = post(daemon, json.dumps(body).encode())
        assert status == 422, answer
        assert answer["detail"][0]["loc"] == loc and "NUL" in answer["detail"][0]["msg"]
    # 20 innocent batches sent beside poisoned ones are all stored
    bodies = [json.dumps([ev(f"innocent.{i}") for _ in range(10)]).encode() for i in range(20)]
    bodies += [json.dumps([ev("ok"), ev("bad\u0000")]).encode()] * 5
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda b: post(daemon, b)[0], bodies))
    assert statuses == [201] * 20 + [422] * 5
    assert len(names(daemon, "innocent.*")) == 200 and names(daemon, "ok") == []
    assert "Traceback" not in daemon.log()


def test_json_nested_too_deep_is_a_422_not_a_500(daemon):
    deep = b"[" * 100_000 + b"]" * 100_000
    status, answer = post(daemon, deep)
    assert status == 422 and answer["detail"][0]["loc"] == "$[0]", answer
    for payload in (deep, b"[" * 64 + b"]" * 64):
        status, answer = post(daemon, b'{"event": "a", "resource": {"prefect.resource.id": '
                              b'"x"}, "payload": {"a": ' + payload + b"}}")
        assert status == 422 and "nested deeper than 64" in answer["detail"][0]["msg"], answer
    trigger = '{"expect": ["x"]}'
    for _ in range(1000):
        trigger = '{"type": "compound", "require": "any", "triggers": [' + trigger + "]}"
    status, answer = post(daemon, f'{{"name": "deep", "actions": [], "trigger": {trigger}}}'
                          .encode(), "/automations")
    assert status == 422, answer
    status, answer = post(daemon, json.dumps(ev("fine", payload={"a": [[[1]]]})).encode())
    assert status == 201
    for _ in range(20):  # malformed HTTP: a 400 and one log line, never a traceback each
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(str(daemon.socket))
            s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n")
            assert s.recv(100).split()[1] == b"400"
    assert "Traceback" not in daemon.log()
    assert daemon.log().count("Error handling request") == 2  # the first, and "10 times so far"


def test_non_finite_or_absurd_trigger_numbers_are_refused(daemon, tmp_path):
    """Issue 11, finding 2: `within: .nan` sent the engine into infinite recursion."""
    base = {"name": "nan", "actions": [], "trigger": {"expect": ["x"]}}
    for field, value, loc in (("within", "nan", "trigger.within"),
                              ("within", "inf", "trigger.within"),
                              ("within", 1e300, "trigger.within"),
                              ("threshold", -1, "trigger.threshold")):
        body = {**base, "trigger": {"expect": ["x"], field: value}}
        status, answer = post(daemon, json.dumps(body).encode(), "/automations")
        assert status == 422 and answer["detail"][0]["loc"] == loc, answer
    metric = {**base, "trigger": {"type": "metric", "metric": {
        "name": "duration", "operator": ">", "threshold": 1e309, "range": 300}}}
    status, answer = post(daemon, json.dumps(metric).encode().replace(b"Infinity", b"1e999"),
                          "/automations")
    assert status == 422, answer
    bad = tmp_path / "nan.yaml"
    bad.write_text("name: nan\nactions: []\ntrigger:\n  expect: [x]\n  within: .nan\n")
    out = subprocess.run([*TOCSIN, "automation", "validate", str(bad)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 65 and f"{bad}:5: trigger.within" in out.stderr, out.stderr


def test_a_message_the_store_refuses_gets_an_error_frame_and_the_rest_are_stored(daemon):
    """Issue 11, finding 1: 50 valid events then a poisoned one over /events/in lost 49."""
    poison(daemon)

    async def stream() -> list[dict]:
        connector = aiohttp.UnixConnector(path=str(daemon.socket))
        async with aiohttp.ClientSession(connector=connector) as s:
            async with s.ws_connect("http://tocsin/events/in") as ws:
                for i in range(50):
                    await ws.send_str(json.dumps(ev(f"in.{i}")))
                await ws.send_str(json.dumps(ev("in.bad", payload={"tag": "poison"})))
                await ws.send_str(json.dumps(ev("in.nul\u0000")))
                await ws.send_str(json.dumps(ev("in.last")))
                frames = [json.loads((await ws.receive(timeout=20)).data) for _ in range(2)]
                await ws.close()
                return frames

    frames = asyncio.run(stream())
    got = {f["message"]: f for f in frames}
    assert set(got) == {51, 52}, frames
    assert "poisoned row" in got[51]["detail"][0]["msg"]
    assert "NUL" in got[52]["detail"][0]["msg"]
    stored = names(daemon, "in.*")
    assert len(stored) == 51 and "in.last" in stored and "in.bad" not in stored


def test_a_line_the_store_refuses_is_rejected_and_the_file_moves_on(make_daemon, tmp_path):
    """Issue 11, finding 1: a watched file with a line the store cannot keep retried forever
    (101 later lines never stored); a spool holding one stored nothing at all."""
    log = tmp_path / "app.jsonl"
    log.write_text("")
    config = tmp_path / "tocsin.toml"
    config.write_text(f'[[watch]]\npath = "{log}"\nstart = "beginning"\n')
    d = make_daemon(config=config).start()
    poison(d)
    lines = [ev(f"line.{i}") for i in range(10)] + [ev("line.bad", payload={"tag": "poison"})]
    lines += [ev("line.nul\u0000")] + [ev(f"line.{i}") for i in range(10, 111)]
    log.write_text("".join(json.dumps(x) + "\n" for x in lines))
    spool = d.home / "spool" / "spool.jsonl"
    spool.parent.mkdir(exist_ok=True)
    spool.write_text(json.dumps(ev("spooled.bad", payload={"tag": "poison"})) + "\n"
                     + json.dumps(ev("spooled.ok")) + "\n")
    wait_until(lambda: len(names(d, "line.*")) == 111 and names(d, "spooled.ok"))
    rejected = {}
    with d.client() as c:
        for e in c.filter_events(names=["tocsin.source.line-rejected"], limit=100)["events"]:
            rejected[(e["payload"]["path"], e["payload"]["lineno"])] = e["payload"]["reason"]
    assert "poisoned row" in rejected[(str(log), 11)]
    assert "NUL" in rejected[(str(log), 12)]
    assert "poisoned row" in rejected[(str(spool), 1)]
    assert "line.bad" not in names(d, "line.*")


def test_bodies_are_limited_alone_and_together(make_daemon, tmp_path):
    """Issue 11, finding 4: a 100 MB batch was accepted; 8 parallel 250 MB bodies took RSS
    to 2.9 GB."""
    config = tmp_path / "tocsin.toml"
    config.write_text("max_body_bytes = 2097152\nmax_bodies_in_flight_bytes = 4194304\n")
    d = make_daemon(config=config).start()
    big = json.dumps([ev("big", payload={"pad": "x" * 500_000}) for _ in range(5)]).encode()
    status, answer = post(d, big)
    assert status == 413 and "max_body_bytes" in answer["detail"]
    # Bodies in flight: slow uploads that hold the budget make the next one wait, then 503.
    holders = [_slow_upload(d.socket, 1_500_000) for _ in range(2)]
    try:
        status, answer = post(d, json.dumps([ev("small")] * 100 + [
            ev("pad", payload={"pad": "y" * 1_500_000})]).encode())
        assert status == 503 and "too many large requests" in answer["detail"]
    finally:
        for s in holders:
            s.close()
    status, _ = post(d, json.dumps([ev("after")]).encode())
    assert status == 201


def test_events_in_messages_count_in_the_bodies_in_flight(make_daemon, tmp_path):
    """Issue 11: /events/in messages were not counted in `max_bodies_in_flight_bytes`, so
    many parallel websocket senders could hold any amount of memory between them. A message
    that finds no room within 5 s gets an error frame; room comes back once it is committed."""
    config = tmp_path / "tocsin.toml"
    config.write_text("max_body_bytes = 2097152\nmax_bodies_in_flight_bytes = 4194304\n")
    d = make_daemon(config=config).start()
    big = [ev("ws.big", payload={"pad": "y" * 600_000})] * 2  # 1.2 MB, two 600 KB events

    async def stream() -> list[dict]:
        connector = aiohttp.UnixConnector(path=str(d.socket))
        async with aiohttp.ClientSession(connector=connector) as s:
            async with s.ws_connect("http://tocsin/events/in", max_msg_size=0) as ws:
                holders = [_slow_upload(d.socket, 1_500_000) for _ in range(2)]
                try:
                    for message in ([ev("ws.small.1")], big, [ev("ws.small.3")]):
                        await ws.send_str(json.dumps(message))
                    frames = [json.loads((await ws.receive(timeout=20)).data)]
                finally:
                    for holder in holders:
                        holder.close()
                for _ in range(5):  # 6 MB in all, through a 4 MB budget
                    await ws.send_str(json.dumps(big))
                await ws.close()
                return frames

    (frame,) = asyncio.run(stream())
    assert frame["message"] == 2 and "too many large requests" in frame["detail"][0]["msg"]
    assert sorted(names(d, "ws.*")) == ["ws.big"] * 10 + ["ws.small.1", "ws.small.3"]


async def test_a_large_body_is_decoded_with_the_event_loop_free_between_slices(tmp_path):
    """Issue 11: /health waited up to 377 ms while 15 MB bodies were decoded in one call
    each; now the loop runs between slices of about SLICE_BYTES, one large body at a time."""
    daemon = Daemon(Config(), Paths(tmp_path, tmp_path / "s.sock", None), components=[])
    body = json.dumps([ev("big", payload={"i": i, "pad": "p" * 1000})
                       for i in range(4000)]).encode()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    decoded = await asyncio.gather(daemon.decode(body), daemon.decode(body))
    task.cancel()
    assert [len(events) for events in decoded] == [4000, 4000]
    assert ticks >= 2 * (len(body) // SLICE_BYTES)


def _slow_upload(path: Path, size: int) -> socket.socket:
    """A request that announces a body of `size` bytes and sends only its first byte."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(path))
    s.sendall(f"POST /events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
              f"Content-Length: {size}\r\n\r\n[".encode())
    time.sleep(0.2)
    return s


class LowFdDaemon(DaemonProcess):
    """A daemon whose file descriptors are capped at `FDS` (hard limit too)."""

    FDS = 512

    def command(self) -> list[str]:
        return ["sh", "-c", f"ulimit -n {self.FDS} && exec {shlex.join(super().command())}"]


def test_half_open_connections_cannot_lock_out_health(tmp_path):
    """Issue 11, finding 5: connections trickling headers were kept forever; at the fd limit
    /health failed and every refused accept was logged. Over the cap, the oldest waiting
    connection makes room; the daemon never reaches its fd limit."""
    d = LowFdDaemon().start()
    held = []
    try:
        for _ in range(2 * LowFdDaemon.FDS):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(d.socket))
            s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n")  # headers never finished
            held.append(s)
        started = time.monotonic()
        with d.client() as c:
            assert c.health()["status"] == "ok"
        assert time.monotonic() - started < 5
        assert "Too many open files" not in d.log() and "Traceback" not in d.log()
    finally:
        for s in held:
            s.close()
        d.cleanup()


def _masked_text_frame(payload: bytes) -> bytes:
    """One client-to-server websocket text frame (under 126 bytes, masked as required)."""
    mask = bytes([1, 2, 3, 4])
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(
        b ^ mask[i % 4] for i, b in enumerate(payload))


def silent_reader(path: Path, name: str) -> socket.socket:
    """A /events/out reader of the events named `name` that, once subscribed, never reads a
    byte (with a small receive buffer, so the daemon's sends back up soon)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(str(path))
    s.sendall(b"GET /events/out HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    s.sendall(_masked_text_frame(json.dumps({"filter": {"names": [name]},
                                             "backfill": 0}).encode()))
    return s


def test_a_live_reader_that_stops_reading_is_cut_off_and_closed(daemon):
    """Issue 11, finding 5: a /events/out subscriber that never reads was removed from the
    bus but its connection was never closed."""
    s = silent_reader(daemon.socket, "silent.*")
    wait_until(lambda: daemon.client().health()["subscribers"] == 1)
    for _ in range(10):  # far more than the socket buffers hold; the reader takes none
        post(daemon, json.dumps([ev("silent.flood", payload={"pad": "p" * 10_000})
                                 for _ in range(20)]).encode())
    wait_until(lambda: daemon.client().health()["subscribers"] == 0, timeout=30)
    s.settimeout(10)
    try:
        while s.recv(65536):
            pass  # what was sent before the cut, then the end
    except ConnectionResetError:
        pass
    s.close()


def test_a_file_nested_1000_deep_is_refused_at_its_line_with_exit_65(tmp_path):
    """Issue 11, finding 4: a trigger nested 1,000 deep gave a traceback from the CLI."""
    trigger = '{"expect": ["x"]}'
    for _ in range(1000):
        trigger = '{"type": "compound", "require": "any", "triggers": [\n' + trigger + "]}"
    path = tmp_path / "deep.json"
    path.write_text(f'{{"name": "deep", "actions": [], "trigger": {trigger}}}')
    out = subprocess.run([*TOCSIN, "automation", "validate", str(path)], capture_output=True,
                         text=True, timeout=30)
    # each compound is two levels (the trigger, its list): the 100th line crosses 200
    assert out.returncode == 65 and f"{path}:100: nested more than 200" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
