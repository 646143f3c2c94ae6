"""Snapshots of every dashboard screen at 80x24 and 120x40, the later ones at 80x24 and
160x48 (pytest-textual-snapshot).

Deterministic by construction: fixed events (fixed ids and times, shown in UTC) and fixed
automations; the feed screens hold the fixed events with no daemon (a stored event carries
the daemon's `received` time), the others use one daemon per module; no clock; text cursors
do not blink.
Update after an intended change with `pytest tests/test_tui_snapshots.py --snapshot-update`
and look at the SVGs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from daemon_proc import DaemonProcess
from textual.pilot import Pilot
from textual.widgets import Input, TextArea
from tocsin.client.sync import build_event
from tocsin_tui.app import LIGHT, TocsinApp
from tocsin_tui.screens.automation_editor import AutomationEditorScreen
from tocsin_tui.screens.automation_inspect import InspectScreen
from tocsin_tui.screens.event_detail import EventDetailScreen
from tocsin_tui.screens.feed import FeedScreen
from tui_helpers import set_threshold, wait_for

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
WIDE_SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]
PROJECT = """\
deployments:
  - name: nightly-report-for-the-finance-team
    command: echo report
    schedules:
      - cron: "0 2 * * *"
        timezone: Europe/Paris
  - name: load
    command: echo load
    work_pool:
      name: etl-pool
      work_queue_name: slow-lane
"""
T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
OFFLINE_SOCKET = "/nonexistent/tocsin-snapshots.sock"
SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "automations" / "order-flow.yaml"


def fixed_events() -> list[dict]:
    users = ["ana", "bo", "cy"]
    events = []
    for i in range(30):
        events.append(build_event(
            ["snap.order.created", "snap.order.paid", "snap.order.shipped"][i % 3],
            {"prefect.resource.id": f"shop.order.{1000 + i // 3}",
             "prefect.resource.name": f"Order {1000 + i // 3}"},
            related=[{"prefect.resource.id": f"shop.user.{users[i % 3]}",
                      "prefect.resource.role": "customer"}],
            payload={"total": 10 + i}, id=f"0190c3a0-0000-7000-8000-{i:012d}",
            occurred=T0 + timedelta(seconds=7 * i)))
    return events


NOTIFY = {
    "name": "paid-order-note", "description": "a note when an order is paid",
    "trigger": {"type": "event", "expect": ["snap.order.paid"], "posture": "Reactive",
                "threshold": 1, "within": 0},
    "actions": [{"type": "call-webhook", "block": "hook",
                 "payload": "Order {{ event.resource.id }} paid {{ event.payload.total }}"}],
}


@pytest.fixture(scope="module")
def snap_daemon() -> Iterator[DaemonProcess]:
    d = DaemonProcess()
    d.dir.joinpath("tocsin.toml").write_text('retention = "36500d"\n')
    d.config = d.dir / "tocsin.toml"
    d.start()
    with d.client() as c:
        c.emit(fixed_events())
        c.request("POST", "/automations/", yaml.safe_load(SAMPLE.read_text()))
        c.request("POST", "/automations/", NOTIFY)
    d.dir.joinpath("tocsin.yaml").write_text(PROJECT)
    subprocess.run([sys.executable, "-m", "tocsin.cli.main", "--socket", str(d.socket),
                    "deploy", "--file", str(d.dir / "tocsin.yaml")], check=True,
                   capture_output=True, timeout=30)
    try:
        yield d
    finally:
        d.cleanup()


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Times on screen are local: make local UTC so the snapshots hold anywhere."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


def still_cursors(app: TocsinApp) -> None:
    """Show text cursors steadily (a blink could catch them either way), and the feed's
    event-rate chart empty (its seconds are the wall clock's)."""
    feed = app.screen_stack[0] if app.screen_stack else None
    if isinstance(feed, FeedScreen):
        feed.rate_timer.pause()
        feed.rate.extend([0] * len(feed.rate))
        feed.this_second = 0
        feed.tick_rate()
    for widget in app.screen.query("Input, TextArea"):
        assert isinstance(widget, Input | TextArea)
        widget.cursor_blink = False
        if isinstance(widget, TextArea):
            # TextArea caches lines by a key that omits the cursor once blinking is off, so a
            # line cached in the blink's dark phase would stay without its cursor.
            widget._line_cache.clear()
            widget.refresh()


async def feed_ready(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, TocsinApp)
    await wait_for(pilot, lambda: app.connection.connected and len(app.feed) >= 30,
                   what="connected feed")
    app.screen.query_one("#filter", Input).value = "snap."
    await pilot.pause()


def snapshot(snap_compare, daemon: DaemonProcess, size, steps) -> bool:
    """A screen of a dashboard connected to the module's daemon."""
    app = TocsinApp(str(daemon.socket), autostart=False)

    async def run_before(pilot: Pilot) -> None:
        await feed_ready(pilot)
        await steps(pilot)
        await pilot.pause(0.2)
        still_cursors(app)

    return snap_compare(app, terminal_size=size, run_before=run_before)


def offline_snapshot(snap_compare, size, steps, theme: str | None = None) -> bool:
    """The feed screen (and what opens over it) holding the fixed events, with no daemon:
    events the daemon stores carry its own `received` time, which the wide feed's side pane
    shows. The header then says the dashboard is offline, which is a state worth a picture."""
    app = TocsinApp(OFFLINE_SOCKET, autostart=False, **({"theme": theme} if theme else {}))

    async def run_before(pilot: Pilot) -> None:
        app.feed.inbox.extend(fixed_events())
        await wait_for(pilot, lambda: len(app.feed) == 30 and "answers" in app.sub_title,
                       what="fixed events, offline header")
        await steps(pilot)
        await pilot.pause(0.3)
        still_cursors(app)

    return snap_compare(app, terminal_size=size, run_before=run_before)


async def nothing(pilot: Pilot) -> None:
    pass


@pytest.mark.parametrize("size", SIZES)
def test_feed(snap_compare, size):
    assert offline_snapshot(snap_compare, size, nothing)


def test_feed_light_theme(snap_compare):
    assert offline_snapshot(snap_compare, (120, 40), nothing, theme=LIGHT)


@pytest.mark.parametrize("size", SIZES)
def test_event_detail(snap_compare, size):
    async def steps(pilot: Pilot) -> None:
        await pilot.press("up", "up", "enter")
        assert isinstance(pilot.app.screen, EventDetailScreen)

    assert offline_snapshot(snap_compare, size, steps)


@pytest.mark.parametrize("size", SIZES)
def test_emit_form(snap_compare, size):
    async def steps(pilot: Pilot) -> None:
        await pilot.press("e")

    assert offline_snapshot(snap_compare, size, steps)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare, size):
    async def steps(pilot: Pilot) -> None:
        await pilot.press("question_mark")

    assert offline_snapshot(snap_compare, size, steps)


async def automations_shown(pilot: Pilot) -> None:
    await pilot.press("2")
    table = pilot.app.screen.query_one("#automations")
    await wait_for(pilot, lambda: table.row_count == 2, what="two automations")


@pytest.mark.parametrize("size", SIZES)
def test_automations(snap_compare, snap_daemon, size):
    assert snapshot(snap_compare, snap_daemon, size, automations_shown)


@pytest.mark.parametrize("size", SIZES)
def test_editor_with_an_error(snap_compare, snap_daemon, size):
    async def steps(pilot: Pilot) -> None:
        await automations_shown(pilot)
        await pilot.press("e")
        screen = pilot.app.screen
        assert isinstance(screen, AutomationEditorScreen)
        set_threshold(screen.editor, "lots")
        screen.editor.move_cursor((0, 0))
        await wait_for(pilot, lambda: screen.errors, what="validation errors")

    assert snapshot(snap_compare, snap_daemon, size, steps)


@pytest.mark.parametrize("size", SIZES)
def test_inspect(snap_compare, snap_daemon, size):
    async def steps(pilot: Pilot) -> None:
        await automations_shown(pilot)
        await pilot.press("i")
        screen = pilot.app.screen
        assert isinstance(screen, InspectScreen)
        await wait_for(pilot, lambda: "state" in str(screen.query_one("#inspect-summary")
                                                    .render()), what="state")

    assert snapshot(snap_compare, snap_daemon, size, steps)


@pytest.mark.parametrize("size", SIZES)
def test_template_preview(snap_compare, snap_daemon, size):
    async def steps(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, TocsinApp)
        app.open_template(template=NOTIFY["actions"][0]["payload"], event=fixed_events()[1])
        await wait_for(pilot, lambda: "rendered" in "".join(
            str(w.render()) for w in app.screen.query("#template-status")), what="render")

    assert snapshot(snap_compare, snap_daemon, size, steps)


async def deployments_shown(pilot: Pilot) -> None:
    await pilot.press("4")
    table = pilot.app.screen.query_one("#list")
    await wait_for(pilot, lambda: table.row_count == 2, what="two deployments")


@pytest.mark.parametrize("size", WIDE_SIZES)
def test_deployments(snap_compare, snap_daemon, size):
    assert snapshot(snap_compare, snap_daemon, size, deployments_shown)


def test_run_parameters(snap_compare, snap_daemon):
    async def steps(pilot: Pilot) -> None:
        await deployments_shown(pilot)
        await pilot.press("r")

    assert snapshot(snap_compare, snap_daemon, (80, 24), steps)


@pytest.mark.parametrize("size", WIDE_SIZES)
def test_work_pools(snap_compare, snap_daemon, size):
    async def steps(pilot: Pilot) -> None:
        await pilot.press("6")
        table = pilot.app.screen.query_one("#list")
        await wait_for(pilot, lambda: any("slow-lane" in str(table.get_row_at(i)[0])
                                          for i in range(table.row_count)),
                       what="the pools and queues")

    assert snapshot(snap_compare, snap_daemon, size, steps)

