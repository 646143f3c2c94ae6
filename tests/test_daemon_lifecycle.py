"""How the daemon starts, reloads and stops when its parts misbehave: a part whose stop fails
or hangs, SIGHUPs that come in a row or too early, a second SIGTERM during a slow stop.

In-process daemons (real socket, real SQLite) with deliberately bad fake parts, and a real
daemon subprocess for the signals."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from pathlib import Path

from daemon_proc import DaemonProcess
from tocsin.client.sync import build_event
from tocsin.config import Config
from tocsin.server.component import Component
from tocsin.server.daemon import Daemon, Paths


class Recorder(Component):
    """A part that notes what happens to it in a shared list."""

    def __init__(self, name: str, seen: list[str]) -> None:
        self.name = name
        self.seen = seen

    async def stop(self) -> None:
        self.seen.append(f"{self.name} stopped")


class FailingStop(Recorder):
    async def stop(self) -> None:
        self.seen.append(f"{self.name} stopping")
        raise RuntimeError("cannot stop")


class HangingStop(Recorder):
    async def stop(self) -> None:
        self.seen.append(f"{self.name} stopping")
        await asyncio.Event().wait()


class GatedReload(Recorder):
    """A reload that waits for the test to open its gate (so two could overlap)."""

    def __init__(self, name: str, seen: list[str]) -> None:
        super().__init__(name, seen)
        self.gate = asyncio.Event()

    async def reload(self, config: Config) -> None:
        self.seen.append("reload begins")
        await self.gate.wait()
        self.gate.clear()
        self.seen.append("reload ends")


def in_process(tmp_path: Path, parts: list[Component]) -> Daemon:
    return Daemon(Config(), Paths(tmp_path, tmp_path / "s.sock", None), components=parts)


async def test_a_part_that_fails_or_hangs_in_stop_does_not_keep_the_others_the_store_or_the_socket(
        tmp_path, caplog):
    seen: list[str] = []
    daemon = in_process(tmp_path, [Recorder("first", seen), FailingStop("failing", seen),
                                   HangingStop("hanging", seen), Recorder("last", seen)])
    daemon.part_stop_seconds = 0.05
    await daemon.start()
    assert daemon.paths.socket.exists()
    with caplog.at_level(logging.INFO, "tocsin.daemon"):
        await daemon.stop()
    # each part stopped, in reverse order, whatever the one after it did
    assert seen == ["last stopped", "hanging stopping", "failing stopping", "first stopped"]
    assert "stopping hanging took longer than 0.05 s" in caplog.text
    assert "stopping failing failed" in caplog.text
    assert not daemon.paths.socket.exists()
    assert daemon.store._writer is None and daemon.store._reader is None  # closed
    assert "stopped; everything accepted is committed" in caplog.text


async def test_reloads_run_one_after_another(tmp_path):
    seen: list[str] = []
    part = GatedReload("gated", seen)
    daemon = in_process(tmp_path, [part])
    await daemon.start()
    try:
        daemon.request_reload()
        daemon.request_reload()
        for _ in range(2):
            while seen.count("reload begins") == seen.count("reload ends"):
                await asyncio.sleep(0)
            await asyncio.sleep(0.01)  # time for a second reload to begin, were it allowed to
            part.gate.set()
            while seen.count("reload ends") < seen.count("reload begins"):
                await asyncio.sleep(0)
        await asyncio.gather(*daemon._reloads)
    finally:
        await daemon.stop()
    assert seen == ["reload begins", "reload ends", "reload begins", "reload ends",
                    "gated stopped"]


async def test_a_sighup_before_the_daemon_is_ready_is_ignored_with_a_log_line(tmp_path, caplog):
    seen: list[str] = []
    daemon = in_process(tmp_path, [GatedReload("gated", seen)])
    with caplog.at_level(logging.WARNING, "tocsin.daemon"):
        daemon.request_reload()
    assert "SIGHUP ignored: the daemon is still starting" in caplog.text
    assert not daemon._reloads and seen == []


async def test_stop_cancels_a_reload_in_progress(tmp_path):
    seen: list[str] = []
    daemon = in_process(tmp_path, [GatedReload("gated", seen)])
    await daemon.start()
    daemon.request_reload()
    while "reload begins" not in seen:
        await asyncio.sleep(0)
    await daemon.stop()  # the gate is never opened: stop must not wait on it
    assert seen == ["reload begins", "gated stopped"] and not daemon._reloads


def test_two_sighups_in_a_row_reload_twice_in_turn(make_daemon, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('log_level = "INFO"\n')
    d = make_daemon(config=cfg).start()
    d.proc.send_signal(signal.SIGHUP)
    # (two signals sent before the first is taken would be one: Unix does not queue them)
    _wait_for(lambda: "reloading the config" in d.log())
    d.proc.send_signal(signal.SIGHUP)
    _wait_for(lambda: d.log().count("config reloaded") == 2)
    steps = [line for line in d.log().splitlines()
             if "reloading the config" in line or "config reloaded" in line]
    assert ["reloading" in s for s in steps] == [True, False, True, False]
    assert d.client().health()["status"] == "ok"


def test_a_second_sigterm_during_a_slow_stop_ends_the_process_at_once(make_daemon, tmp_path):
    """The stop waits for an action in flight (a webhook whose server never answers); the
    second SIGTERM does not."""
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    cfg = tmp_path / "c.toml"
    cfg.write_text("[actions]\nwebhook_timeout_s = 60\n")
    d: DaemonProcess = make_daemon(config=cfg).start()
    try:
        with d.client() as client:
            client.request("POST", "/automations/", {
                "name": "hangs", "trigger": {"expect": ["order.created"], "posture": "Reactive"},
                "actions": [{"type": "call-webhook",
                             "url": f"http://127.0.0.1:{silent.getsockname()[1]}/"}]})
            client.emit([build_event("order.created", {"prefect.resource.id": "order.1"})])
        silent.settimeout(15)
        held, _ = silent.accept()  # the action is in flight
        d.proc.send_signal(signal.SIGTERM)
        _wait_for(lambda: "shutting down" in d.log())
        time.sleep(0.5)
        assert d.proc.poll() is None  # still stopping: waiting for the action
        asked = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(5) == 128 + signal.SIGTERM
        assert time.monotonic() - asked < 2.0
        assert "SIGTERM again while stopping; exiting now" in d.log()
        held.close()
    finally:
        silent.close()


def _wait_for(cond, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")
