"""The dashboard's event feed against a real daemon: live events, filter, detail, emit."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from tocsin.client.sync import build_event
from tocsin_tui.app import TocsinApp
from tocsin_tui.screens.event_detail import EventDetailScreen
from tocsin_tui.widgets.event_list import MAX_ROWS, EventList
from tui_helpers import wait_for


def names(app: TocsinApp) -> list[str]:
    """The events the feed lists (even while a dialog covers it), less the daemon's own."""
    rows = app.screen_stack[0].query_one(EventList).rows
    return [e["event"] for e in rows if not e["event"].startswith("prefect.")]


async def test_emitted_events_appear_in_the_feed_newest_at_the_bottom(daemon):
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.connection.connected, what="connection")
        with daemon.client() as c:
            c.emit([build_event("order.created", {"prefect.resource.id": "shop.order.1"}),
                    build_event("order.paid", {"prefect.resource.id": "shop.order.1"})])
        await wait_for(pilot, lambda: names(app)[-2:] == ["order.created", "order.paid"],
                       what="events in the feed")
        assert "connected" in app.sub_title


def emit(daemon, *events) -> None:
    with daemon.client() as c:
        c.emit(list(events))


def ev(name: str, rid: str, **labels: str) -> dict:
    return build_event(name, {"prefect.resource.id": rid, **labels})


async def test_filter_narrows_the_feed_by_name_resource_id_and_label(daemon):
    emit(daemon, ev("order.created", "shop.order.1", region="eu"),
         ev("order.paid", "shop.order.1", region="us"),
         ev("user.login", "auth.user.7", region="eu"))
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(names(app)) == 3, what="backfill")
        await pilot.press("slash", *"order.*")
        assert names(app) == ["order.created", "order.paid"]
        await pilot.press("enter", "slash", "end", "space", *"region=eu")
        assert names(app) == ["order.created"]
        app.screen.query_one("#filter").value = "auth.user"
        await pilot.pause()
        assert names(app) == ["user.login"]
        app.screen.query_one("#filter").value = ""
        await pilot.pause()
        assert len(names(app)) == 3
        # new events that do not match stay out of a filtered feed
        app.screen.query_one("#filter").value = "user.*"
        emit(daemon, ev("order.shipped", "shop.order.1"), ev("user.logout", "auth.user.7"))
        await wait_for(pilot, lambda: names(app) == ["user.login", "user.logout"],
                       what="the filtered live event")


async def test_pause_holds_the_list_and_counts_new_events(daemon):
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.connection.connected, what="connection")
        emit(daemon, ev("a.first", "r.1"))
        await wait_for(pilot, lambda: names(app) == ["a.first"], what="first event")
        await pilot.press("space")
        emit(daemon, ev("a.second", "r.1"), ev("a.third", "r.1"))
        await wait_for(pilot, lambda: app.screen.pending == 2, what="pending count")
        assert names(app) == ["a.first"]
        status = str(app.screen.query_one("#feed-status").render())
        assert "paused" in status and "2 new" in status
        await pilot.press("space")
        assert names(app) == ["a.first", "a.second", "a.third"]


async def test_detail_shows_the_whole_event_and_copy_puts_its_json_on_the_clipboard(daemon):
    event = build_event("order.created", {"prefect.resource.id": "shop.order.9"},
                        related=[{"prefect.resource.id": "user.3",
                                  "prefect.resource.role": "customer"}],
                        payload={"total": 42})
    emit(daemon, event)
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: names(app) == ["order.created"], what="backfill")
        await pilot.press("c")
        copied = json.loads(app.clipboard)
        assert copied["id"] == event["id"] and copied["payload"] == {"total": 42}
        await pilot.press("enter")
        assert isinstance(app.screen, EventDetailScreen)
        summary = str(app.screen.query_one("#detail-summary").render())
        assert "customer" in summary and "user.3" in summary
        assert '"total": 42' in str(app.screen.query_one("#detail-json").render())
        await pilot.press("escape")
        assert not isinstance(app.screen, EventDetailScreen)


async def test_emit_form_sends_an_event_the_daemon_stores(daemon):
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.connection.connected, what="connection")
        await pilot.press("e")
        screen = app.screen
        screen.query_one("#emit-name").value = "deploy.finished"
        screen.query_one("#emit-labels").value = "env=prod"
        screen.query_one("#emit-payload").value = "[1"
        await pilot.click("#emit-send")
        assert "payload" in str(screen.query_one("#emit-error").render())
        screen.query_one("#emit-payload").value = '{"ok": true}'
        screen.query_one("#emit-payload").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "deploy.finished" in names(app), what="emitted event")
    with daemon.client() as c:
        stored = c.filter_events(names=["deploy.finished"])["events"]
    assert stored[0]["resource"]["env"] == "prod" and stored[0]["payload"] == {"ok": True}


async def test_older_events_are_paged_from_the_store(daemon):
    emit(daemon, *[ev("bulk.event", f"r.{i}") for i in range(700)])
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(names(app)) >= 498, what="backfill of 500")
        await pilot.press("o")
        await wait_for(pilot, lambda: len(names(app)) == 700, what="older page")
        ids = [e["resource"]["prefect.resource.id"] for e in app.screen.query_one(EventList).rows
               if e["event"] == "bulk.event"]
        assert ids == [f"r.{i}" for i in range(700)]


async def test_a_flood_keeps_the_list_bounded_and_pause_holds_it_still():
    """No daemon needed: events put straight into the app's inbox, as the stream does."""
    tmp = Path(tempfile.mkdtemp(prefix="tcs", dir="/tmp"))
    app = TocsinApp(str(tmp / "none.sock"), autostart=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            events_list = app.screen.query_one(EventList)
            app.feed.inbox.extend(ev("flood.event", f"r.{i}") for i in range(6000))
            await wait_for(pilot, lambda: len(app.feed) == 5000, what="one batch")
            assert len(events_list.rows) == MAX_ROWS
            assert events_list.rows[-1]["resource"]["prefect.resource.id"] == "r.5999"
            assert events_list.cursor == MAX_ROWS - 1
            await pilot.press("space")
            app.feed.inbox.extend(ev("flood.more", f"m.{i}") for i in range(300))
            await wait_for(pilot, lambda: app.screen.pending == 300, what="pending")
            assert events_list.rows[-1]["resource"]["prefect.resource.id"] == "r.5999"
            await pilot.press("space")
            assert events_list.rows[-1]["resource"]["prefect.resource.id"] == "m.299"
            assert len(events_list.rows) == MAX_ROWS
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def test_wide_terminals_show_the_selected_event_beside_the_list(daemon):
    first, second = ev("side.first", "r.1"), ev("side.second", "r.2")
    emit(daemon, first, second)
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(130, 30)) as pilot:
        await wait_for(pilot, lambda: names(app)[-2:] == ["side.first", "side.second"],
                       what="backfill")
        side = app.screen.query_one("#side-json")
        await wait_for(pilot, lambda: second["id"] in str(side.render()), what="newest shown")
        await pilot.press("up")
        await wait_for(pilot, lambda: first["id"] in str(side.render()), what="selection shown")
    narrow = TocsinApp(str(daemon.socket), autostart=False)
    async with narrow.run_test(size=(80, 24)):
        assert not narrow.screen.query_one("#side-pane").display


async def test_the_side_pane_follows_a_flood_without_laying_the_screen_out_each_time():
    """The side pane laid the whole screen out again 4 times a second while following a
    flood, the longest stalls of tests/bench/tui.py: now only when its height changes."""
    tmp = Path(tempfile.mkdtemp(prefix="tcs", dir="/tmp"))
    app = TocsinApp(str(tmp / "none.sock"), autostart=False)
    try:
        async with app.run_test(size=(200, 40)) as pilot:
            side = app.screen.query_one("#side-json")
            app.feed.inbox.extend(ev("same.shape", f"r.{i}") for i in range(3))
            await wait_for(pilot, lambda: '"r.2"' in str(side.render()), what="the newest")
            height = app.screen.side_height
            assert height is not None and side.size.height == height
            app.feed.inbox.append(ev("same.shape", "r.3"))  # the same height: no layout
            await wait_for(pilot, lambda: '"r.3"' in str(side.render()), what="the next")
            assert app.screen.side_height == height
            taller = ev("more.labels", "r.4", **{f"label{i}": str(i) for i in range(10)})
            app.feed.inbox.append(taller)  # taller: laid out again, to its new height
            await wait_for(pilot, lambda: side.size.height == height + 10, what="taller")
            assert '"label9"' in str(side.render())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
