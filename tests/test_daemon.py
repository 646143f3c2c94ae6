"""The real daemon on a temp socket and SQLite file, driven as a user would."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import pytest
from daemon_proc import DaemonProcess
from tocsin import emit_event
from tocsin.client import AsyncClient
from tocsin.errors import ApiError, from_answer

TOCSIN = [sys.executable, "-m", "tocsin.cli.main"]


def cli(d: DaemonProcess, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TOCSIN, "--socket", str(d.socket), *args], input=stdin,
                          capture_output=True, text=True, timeout=30)


def stored(d: DaemonProcess) -> list[dict]:
    out = cli(d, "events", "ls", "--limit", "1000", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_emit_through_cli_python_and_curl(daemon):
    out = cli(daemon, "emit", "order.created", "--resource", "prefect.resource.id=user.1",
              "--resource", "env=prod", "--payload", '{"total": 3}',
              "--related", '{"prefect.resource.id": "shop.9", "prefect.resource.role": "shop"}')
    assert out.returncode == 0, out.stderr
    cli_id = out.stdout.strip()

    py = emit_event("order.complete", resource={"prefect.resource.id": "user.1"},
                    socket_path=daemon.socket)

    if shutil.which("curl"):
        body = json.dumps({"event": "order.shipped", "resource": {"prefect.resource.id": "user.1"}})
        curl = subprocess.run(["curl", "-sf", "--unix-socket", str(daemon.socket),
                               "-H", "Content-Type: application/json",
                               "-d", body, "http://tocsin/events"], capture_output=True, text=True)
        assert curl.returncode == 0 and json.loads(curl.stdout)["stored"] == 1

    events = {e["id"]: e for e in stored(daemon)}
    assert events[cli_id]["payload"] == {"total": 3}
    assert events[cli_id]["resource"]["env"] == "prod"
    assert events[cli_id]["related"][0]["prefect.resource.role"] == "shop"
    assert events[cli_id]["received"]
    assert str(py.id) in events and py.event == "order.complete"
    assert {e["event"] for e in events.values()} >= {"order.created", "order.complete"}


def test_emit_from_stdin_in_batches(daemon):
    lines = "\n".join(json.dumps({"event": "bulk", "resource": {"prefect.resource.id": f"r.{i}"}})
                      for i in range(2500))
    out = cli(daemon, "emit", "-", stdin=lines)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.split()) == 2500
    assert "emitted 2500" in out.stderr
    assert daemon.client().filter_events(names=["bulk"], limit=10_000)["events"].__len__() == 2500


def test_events_ls_filters(daemon):
    c = daemon.client()
    c.emit([{"event": n, "resource": {"prefect.resource.id": r, "env": env}}
            for n, r, env in [("a.one", "x.1", "prod"), ("a.two", "x.2", "dev"),
                              ("b.one", "y.1", "prod")]])
    names = lambda *a: [e["event"] for e in json.loads(cli(daemon, "events", "ls", "--json", *a).stdout)]
    assert sorted(names("--name", "a.*")) == ["a.one", "a.two"]
    assert names("--resource", "env=prod", "--name", "a.*") == ["a.one"]
    assert names("--resource", "prefect.resource.id=y.*") == ["b.one"]
    assert len(names("--limit", "2")) == 2
    assert names("--since", "1h", "--name", "b.*") == ["b.one"]
    table = cli(daemon, "events", "ls").stdout
    assert "a.two" in table and "x.2" in table


@pytest.mark.parametrize(
    ("body", "status", "loc"),
    [
        (b"{not json", 400, ""),
        (b'{"event": "x", "resource": {}}', 422, "$.resource"),
        (b'[{"event": "ok", "resource": {"prefect.resource.id": "a"}}, '
         b'{"event": "x", "resource": {"prefect.resource.id": "a"}, "payload": 3}]', 422, "$[1].payload"),
        (b'{"event": "x", "resource": {"prefect.resource.id": "a"}, '
         b'"related": [{"prefect.resource.id": "b"}]}', 422, "$.related[0]"),
        (b'{"event": "x", "resource": {"prefect.resource.id": "a", "n": 1}}', 422, "$.resource"),
    ],
)
def test_bad_input_gets_a_clear_error_and_stores_nothing(daemon, body, status, loc):
    with pytest.raises(ApiError) as info:
        _raw_post(daemon.socket, body)
    assert info.value.status == status
    assert info.value.detail[0]["loc"].startswith(loc)
    assert info.value.detail[0]["msg"]
    assert daemon.client().filter_events(names=["ok", "x"])["events"] == []


def _raw_post(sock: Path, body: bytes) -> None:
    """POST bytes as they are (the clients would refuse to send malformed JSON)."""
    import http.client

    conn = http.client.HTTPConnection("tocsin")
    conn.sock = socket.socket(socket.AF_UNIX)
    conn.sock.connect(str(sock))
    conn.request("POST", "/events", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    payload = json.loads(resp.read())
    conn.close()
    if resp.status >= 400:
        raise from_answer(resp.status, payload)


def test_oversized_event_is_refused(make_daemon, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("max_event_bytes = 2048\n")
    d = make_daemon(config=cfg).start()
    with pytest.raises(ApiError) as info:
        d.client().emit([{"event": "big", "resource": {"prefect.resource.id": "a"},
                          "payload": {"x": "y" * 4000}}])
    assert info.value.status == 422 and "limit is 2048" in info.value.detail[0]["msg"]


def test_get_event_by_id(daemon):
    e = emit_event("one", resource={"prefect.resource.id": "a"}, socket_path=daemon.socket)
    c = daemon.client()
    assert c.request("GET", f"/events/{e.id}")["event"] == "one"
    with pytest.raises(ApiError) as info:
        c.request("GET", "/events/00000000-0000-0000-0000-000000000000")
    assert info.value.status == 404


def test_every_acknowledged_event_survives_kill_9(daemon):
    c = daemon.client()
    ids: list[str] = []
    for batch in range(20):
        events = [{"event": "durable", "resource": {"prefect.resource.id": f"r.{batch}.{i}"}}
                  for i in range(100)]
        ids += c.emit(events)["ids"]
    daemon.kill9()
    daemon.start()
    found = {e["id"] for e in daemon.client().filter_events(names=["durable"], limit=10_000)["events"]}
    assert found == set(ids)


def test_sigterm_shuts_down_cleanly_and_removes_the_socket(daemon):
    emit_event("x", resource={"prefect.resource.id": "a"}, socket_path=daemon.socket)
    assert daemon.stop() == 0
    assert not daemon.socket.exists()
    assert "stopped" in daemon.log()


def test_a_second_daemon_on_the_same_socket_refuses(daemon):
    other = subprocess.run([*TOCSIN, "daemon", "--home", str(daemon.dir / "h2"),
                            "--socket", str(daemon.socket)], capture_output=True, text=True,
                           timeout=30)
    assert other.returncode == 1
    assert "already answering" in other.stderr
    assert "Traceback" not in other.stderr
    assert "shutting down" not in other.stderr  # it never started: only the reason is said
    assert daemon.client().health()["status"] == "ok"  # the first one is untouched


def test_a_stale_socket_file_is_replaced():
    d = DaemonProcess()
    try:
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(str(d.socket))
        stale.close()  # the file remains, nobody listens
        d.start()
        assert d.client().health()["status"] == "ok"
    finally:
        d.cleanup()


def test_socket_mode_defaults_to_0600_and_is_configurable(make_daemon, tmp_path):
    d = make_daemon().start()
    assert stat.S_IMODE(os.stat(d.socket).st_mode) == 0o600
    cfg = tmp_path / "c.toml"
    cfg.write_text('socket_mode = "0660"\n')
    d2 = make_daemon(config=cfg).start()
    assert stat.S_IMODE(os.stat(d2.socket).st_mode) == 0o660


def test_sighup_reloads_and_a_bad_config_keeps_the_old(make_daemon, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('log_level = "INFO"\n')
    d = make_daemon(config=cfg).start()
    cfg.write_text("retention = \n")  # not TOML
    d.proc.send_signal(signal.SIGHUP)
    _wait_for(lambda: "reload refused" in d.log())
    # A part's own settings are checked before anything is applied: all or nothing.
    cfg.write_text('retention = "1d"\n[engine]\nidle_ttl = "soon"\n')
    d.proc.send_signal(signal.SIGHUP)
    _wait_for(lambda: "[engine]" in d.log())
    assert "reload refused" in d.log().split("[engine]")[0].splitlines()[-1]
    assert "config reloaded" not in d.log()
    cfg.write_text('retention = "1d"\n')
    d.proc.send_signal(signal.SIGHUP)
    _wait_for(lambda: "config reloaded" in d.log())
    assert d.client().health()["status"] == "ok"


def test_systemd_notify_ready_then_stopping():
    tmp = Path(tempfile.mkdtemp(dir="/tmp"))
    addr = tmp / "n"
    sink = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sink.bind(str(addr))
    sink.settimeout(15)
    d = DaemonProcess(env={"NOTIFY_SOCKET": str(addr)})
    try:
        d.start()
        assert sink.recv(100) == b"READY=1"
        d.stop()
        assert sink.recv(100) == b"STOPPING=1"
    finally:
        d.cleanup()
        sink.close()
        shutil.rmtree(tmp)


def test_no_daemon_gives_one_line_and_exit_3():
    sock = Path(tempfile.mkdtemp(dir="/tmp")) / "none.sock"
    out = subprocess.run([*TOCSIN, "--socket", str(sock), "events", "ls"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 3
    assert out.stderr.count("\n") == 1 and "tocsin daemon" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_socket_path_too_long_gives_one_line_not_a_traceback():
    sock = Path(tempfile.mkdtemp(dir="/tmp")) / ("s" * 120)
    out = subprocess.run([*TOCSIN, "--socket", str(sock), "status"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert "too long" in out.stderr and "Traceback" not in out.stderr


def test_stored_in_sqlite_wal(daemon):
    emit_event("x", resource={"prefect.resource.id": "a"}, socket_path=daemon.socket)
    with sqlite3.connect(daemon.home / "tocsin.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_websocket_in_and_out_with_backfill(daemon):
    async with AsyncClient(daemon.socket) as c:
        await c.emit([{"event": "before", "resource": {"prefect.resource.id": "a"}}])
        seen: list[str] = []

        async def read() -> None:
            async for event in c.stream({"names": ["before", "live.*"]}, backfill=5):
                seen.append(event["event"])
                if len(seen) == 4:
                    return

        import asyncio

        reader = asyncio.create_task(read())
        await _until(lambda: daemon.client().health()["subscribers"] == 1)
        raw = [json.dumps({"event": f"live.{i}", "resource": {"prefect.resource.id": "a"}}).encode()
               for i in range(3)]
        raw.append(json.dumps({"event": "ignored", "resource": {"prefect.resource.id": "a"}}).encode())
        await c.send_stream(raw)
        await asyncio.wait_for(reader, 10)
    assert seen == ["before", "live.0", "live.1", "live.2"]
    mine = ["before", "live.*", "ignored"]
    assert len(daemon.client().filter_events(names=mine, limit=100)["events"]) == 5


async def test_events_in_answers_a_bad_message_and_goes_on(daemon):
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(daemon.socket))) as s:
        async with s.ws_connect("http://tocsin/events/in") as ws:
            await ws.send_str('{"event": "x"}')
            reply = json.loads((await ws.receive(timeout=10)).data)
            assert reply["type"] == "error" and "resource" in reply["detail"][0]["msg"]
            await ws.send_str('{"event": "ok", "resource": {"prefect.resource.id": "a"}}')
            await ws.close()
    assert [e["event"] for e in daemon.client().filter_events(names=["ok", "x"])["events"]] == ["ok"]


def test_events_tail_follows_live(daemon):
    proc = subprocess.Popen([*TOCSIN, "--socket", str(daemon.socket), "events", "tail", "--json",
                             "--backfill", "0", "--name", "tailme"], stdout=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: daemon.client().health()["subscribers"] == 1)
        emit_event("tailme", resource={"prefect.resource.id": "a"}, socket_path=daemon.socket)
        line = proc.stdout.readline()
        assert json.loads(line)["event"] == "tailme"
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_for(cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


async def _until(cond, timeout: float = 10.0) -> None:
    import asyncio

    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_an_unknown_log_level_is_a_config_error_not_a_traceback(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('log_level = "LOUD"\n')
    base = [*TOCSIN, "daemon", "--home", str(tmp_path / "h"), "--socket", str(tmp_path / "s")]
    out = subprocess.run([*base, "--config", str(cfg)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 78 and "log_level" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([*base, "--log-level", "LOUD"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_status_separates_each_part_from_its_counters(daemon):
    out = cli(daemon, "status")
    assert out.returncode == 0, out.stderr
    assert "  webhooks listener off" in out.stdout and "  socket   " in out.stdout
    assert "  watch    spool (files " in out.stdout and "{" not in out.stdout


def test_status_shows_the_database_and_wal_sizes(daemon):
    out = cli(daemon, "status")
    assert re.search(r"  store    database \d+\.\d MiB, WAL \d+\.\d MiB", out.stdout), out.stdout
    sizes = json.loads(cli(daemon, "status", "--json").stdout)["store"]
    assert sizes["bytes"] > 0 and sizes["wal_bytes"] >= 0


def test_an_unusable_home_or_socket_folder_is_one_line_not_a_traceback(tmp_path):
    (tmp_path / "f").write_text("a file, not a folder")
    for home, sock in ((tmp_path / "f" / "h", tmp_path / "s"), (tmp_path / "h", tmp_path / "f" / "s")):
        out = subprocess.run([*TOCSIN, "daemon", "--home", str(home), "--socket", str(sock)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        assert out.stderr.splitlines()[-1].startswith("tocsin: cannot ")


@pytest.mark.parametrize("text", ['[jobs]\ncancel_grace_seconds = "x"\n', '[engine]\nidle_tll = "1d"\n',
                                  '[webhooks]\nenabled = true\nport = 99999\n',
                                  '[engine]\nnear_misses = -1\n'])
def test_bad_engine_jobs_or_webhooks_settings_are_config_errors(tmp_path, text):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    out = subprocess.run([*TOCSIN, "daemon", "--home", str(tmp_path / "h"), "--socket",
                          str(tmp_path / "s"), "--config", str(cfg)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 78 and "Traceback" not in out.stderr, out.stderr
