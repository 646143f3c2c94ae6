"""Pictures in the dashboard: bars and outcome marks (pure), the feed's event rate per filter
and each automation's firing history, against a real daemon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textual.widgets import Sparkline
from tocsin.client.sync import build_event
from tocsin_tui.app import TocsinApp
from tocsin_tui.charts import bars, counts_by_slot, outcome_marks
from tocsin_tui.widgets.list_table import ListTable
from tui_helpers import wait_for

NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_bars_scale_to_the_largest_and_blank_zeros():
    assert bars([0, 1, 2, 4, 8]) == " ▁▂▄█"
    assert bars([0, 0]) == "  " and bars([]) == ""


def test_counts_by_slot_puts_each_time_in_its_slot_oldest_first():
    times = [(NOW - timedelta(seconds=s)).isoformat() for s in (1, 2, 299, 301, 1_000, 4_000)]
    assert counts_by_slot(times + ["not a time"], NOW, 300, 4) == [1, 0, 1, 3]


def test_outcome_marks_read_at_a_glance():
    marks = outcome_marks(["COMPLETED", "FAILED", "CANCELLED", "RUNNING"])
    assert marks.plain == "✓✗⊘▶" and marks.spans[1].style == "red"


async def test_feed_draws_the_rate_of_the_events_that_pass_the_filter(daemon):
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.connection.connected, what="connection")
        await pilot.press("slash", *"rate.*", "enter")
        feed = app.screen
        await pilot.pause(1.2)  # what passed while the filter was being typed is counted
        before = sum(feed.rate) + feed.this_second
        with daemon.client() as c:
            c.emit([build_event("rate.a", {"prefect.resource.id": "r"}) for _ in range(40)] +
                   [build_event("other.b", {"prefect.resource.id": "r"}) for _ in range(25)])
        await wait_for(pilot, lambda: sum(feed.rate) == before + 40, what="40 more counted")

        assert max(app.screen.query_one("#rate-chart", Sparkline).data) >= 20  # one or two s
        assert f"{feed.rate[-1]:,}/s" in str(feed.query_one("#feed-status").render())


async def test_automations_table_draws_each_ones_firings_in_the_last_hour(daemon):
    with daemon.client() as c:
        c.request("POST", "/automations/", {
            "name": "on-ping", "trigger": {"type": "event", "expect": ["ping"]},
            "actions": [{"type": "do-nothing"}]})
        c.request("POST", "/automations/", {
            "name": "never", "trigger": {"type": "event", "expect": ["nope"]},
            "actions": [{"type": "do-nothing"}]})
        c.emit([build_event("ping", {"prefect.resource.id": "p"}) for _ in range(3)])
    app = TocsinApp(str(daemon.socket), autostart=False)
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.press("2")
        table = app.screen.query_one(ListTable)

        def row(name: str) -> list[str]:
            rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
            return next((r for r in rows if r[0] == name), [])

        await wait_for(pilot, lambda: row("on-ping") and row("on-ping")[4] == "3",
                       what="three firings counted")
        assert row("on-ping")[5] == " " * 11 + "█"  # all in the newest five minutes
        assert row("never")[5].strip() == ""
