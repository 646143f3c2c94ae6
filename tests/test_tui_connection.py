"""The dashboard finds, starts and re-finds its daemon over the socket."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

from tocsin.client.sync import SyncClient, build_event
from tocsin_tui.app import TocsinApp
from tocsin_tui.widgets.event_list import EventList
from tui_helpers import wait_for


def feed_names(app: TocsinApp) -> list[str]:
    return [e["event"] for e in app.screen_stack[0].query_one(EventList).rows]


async def test_dashboard_starts_a_daemon_when_none_runs(monkeypatch):
    tmp = Path(tempfile.mkdtemp(prefix="tcs", dir="/tmp"))
    monkeypatch.setenv("TOCSIN_HOME", str(tmp / "home"))
    socket = tmp / "s.sock"
    app = TocsinApp(str(socket), autostart=True)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.connection.connected, timeout=20,
                           what="the started daemon")
            started = app.connection.started
            assert started is not None
            assert any("Daemon started" in (n.title or "") for n in app._notifications)
            with SyncClient(socket) as c:
                assert c.health()["pid"] == started.pid
                c.emit([build_event("hello.dashboard", {"prefect.resource.id": "t.1"})])
            await wait_for(pilot, lambda: "hello.dashboard" in feed_names(app), what="event")
        assert (tmp / "home" / "daemon.log").exists()
        # detached: its own session, so it outlives the dashboard
        assert started.poll() is None and os.getsid(started.pid) == started.pid
    finally:
        if app.connection.started is not None:
            app.connection.started.send_signal(signal.SIGTERM)
            app.connection.started.wait(15)
        shutil.rmtree(tmp, ignore_errors=True)


async def test_without_a_daemon_and_autostart_off_the_header_says_offline():
    tmp = Path(tempfile.mkdtemp(prefix="tcs", dir="/tmp"))
    app = TocsinApp(str(tmp / "none.sock"), autostart=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: "offline" in app.sub_title, what="offline header")
            await pilot.press("e")  # the dashboard stays usable
            assert app.screen.query_one("#emit-name")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def test_a_daemon_restart_is_survived(daemon):
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.connection.connected, what="connection")
        with daemon.client() as c:
            c.emit([build_event("before.restart", {"prefect.resource.id": "t.1"})])
        await wait_for(pilot, lambda: "before.restart" in feed_names(app), what="first event")
        daemon.stop()
        await wait_for(pilot, lambda: "offline" in app.sub_title, what="offline header")
        assert "before.restart" in feed_names(app)  # keeps what it has
        daemon.start()
        await wait_for(pilot, lambda: app.connection.connected, what="reconnection")
        assert app.sub_title == "connected"
        with daemon.client() as c:
            c.emit([build_event("after.restart", {"prefect.resource.id": "t.1"})])
        await wait_for(pilot, lambda: "after.restart" in feed_names(app), what="new event")
        assert feed_names(app).count("before.restart") == 1  # the backfill is not shown twice
