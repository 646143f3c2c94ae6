"""Terminal habits in every list: j/k/g/G/ctrl+d/ctrl+u, and names cut in the middle."""

from __future__ import annotations

from tocsin.client.sync import build_event
from tocsin_tui.app import TocsinApp
from tocsin_tui.widgets.event_list import EventList
from tocsin_tui.widgets.list_table import ListTable
from tui_helpers import wait_for

ACTIONS = ("triggered", "failed", "executed")


def action_events(n: int) -> list[dict]:
    return [build_event(f"prefect.automation.action.{ACTIONS[i % 3]}",
                        {"prefect.resource.id": f"test.thing.{i}"}) for i in range(n)]


async def test_vim_keys_move_in_the_feed_and_action_event_names_keep_their_ends_at_80(daemon):
    with daemon.client() as c:
        c.emit(action_events(60))
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        events = app.screen.query_one(EventList)
        await wait_for(pilot, lambda: len(events.rows) >= 60, what="backfill")
        last = len(events.rows) - 1
        assert events.cursor == last and events.following
        await pilot.press("k")
        assert events.cursor == last - 1 and not events.following
        await pilot.press("j")
        assert events.cursor == last
        await pilot.press("g")
        assert events.cursor == 0
        await pilot.press("ctrl+d")
        half = events.cursor
        assert 5 <= half <= events.size.height
        await pilot.press("ctrl+u")
        assert events.cursor == 0
        await pilot.press("G")
        assert events.cursor == last and events.following
        lines = [events.render_line(y).text for y in range(events.size.height)]
        for action in ACTIONS:  # cut in the middle: the ends that differ stay readable
            assert any(f"…action.{action} " in line for line in lines), (action, lines)


async def test_vim_keys_move_in_the_automations_table(daemon):
    with daemon.client() as c:
        for i in range(30):
            c.request("POST", "/automations/", {
                "name": f"a-very-long-automation-name-that-needs-cutting-{i:02d}",
                "trigger": {"type": "event", "expect": ["x.y"]}, "actions": []})
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        table = app.screen.query_one(ListTable)
        await wait_for(pilot, lambda: table.row_count == 30, what="the automations")
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == 29
        await pilot.press("g", "ctrl+d")
        assert 3 <= table.cursor_row <= 12
        await pilot.press("ctrl+u")
        assert table.cursor_row == 0
        # At 80 columns the names are cut in the middle and the "Fired" column stays.
        assert sum(c.get_render_width(table) for c in table.columns.values()) <= 80
        first = str(table.get_row_at(0)[0])
        assert "…" in first and first.endswith("-00")
